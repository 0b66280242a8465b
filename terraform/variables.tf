variable "project_id" {
  description = "The GCP project that holds the land bucket and the BigQuery datasets (RDBT_BQ_PROJECT)."
  type        = string
}

variable "region" {
  description = "Region of the bucket; BigQuery datasets use var.location."
  type        = string
  default     = "europe-west1"
}

variable "location" {
  description = "BigQuery location (RDBT_BQ_LOCATION in profiles.yml)."
  type        = string
  default     = "EU"
}

variable "land_bucket_name" {
  description = "The GCS bucket rdbt ingest lands bronze files in (RDBT_LAND_BUCKET in profiles.yml)."
  type        = string
}

variable "base_dataset" {
  description = "The prod target's dataset in profiles.yml; custom schemas append _bronze, _silver, _gold."
  type        = string
  default     = "retention"
}

variable "quarantine_retention_days" {
  description = "How long quarantined (bad) messages are kept for replay."
  type        = number
  default     = 90
}
