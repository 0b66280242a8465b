output "land_bucket" {
  description = "Set RDBT_LAND_BUCKET to this."
  value       = google_storage_bucket.land.name
}

output "datasets" {
  description = "The datasets rdbt builds into."
  value       = concat([google_bigquery_dataset.base.dataset_id], [for d in google_bigquery_dataset.layer : d.dataset_id])
}

output "service_account_email" {
  description = "Create a key for this account and point RDBT_BQ_KEYFILE at it."
  value       = google_service_account.rdbt.email
}
