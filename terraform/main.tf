# The land: Hive-partitioned Parquet written by `rdbt ingest`, read by
# BigQuery external tables. Old raw files move to cheaper storage; the
# quarantine is kept long enough to fix a schema and replay.
resource "google_storage_bucket" "land" {
  name                        = var.land_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = false
  }

  lifecycle_rule {
    condition {
      age            = 30
      matches_prefix = ["land/"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age            = var.quarantine_retention_days
      matches_prefix = ["land/_quarantine/"]
    }
    action {
      type = "Delete"
    }
  }
}

locals {
  layers = ["bronze", "silver", "gold"]
}

# dbt's schema naming: <target dataset>_<custom schema>.
resource "google_bigquery_dataset" "base" {
  dataset_id  = var.base_dataset
  location    = var.location
  description = "rdbt target dataset (seeds and models without a custom schema)."
}

resource "google_bigquery_dataset" "layer" {
  for_each    = toset(local.layers)
  dataset_id  = "${var.base_dataset}_${each.key}"
  location    = var.location
  description = "rdbt ${each.key} layer of the retention project."
}

# rdbt runs as this account: it reads and writes the land and owns the
# datasets' tables, and nothing else.
resource "google_service_account" "rdbt" {
  account_id   = "rdbt-runner"
  display_name = "rdbt (ingest and build)"
}

resource "google_storage_bucket_iam_member" "land_writer" {
  bucket = google_storage_bucket.land.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.rdbt.email}"
}

resource "google_bigquery_dataset_iam_member" "base_editor" {
  dataset_id = google_bigquery_dataset.base.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.rdbt.email}"
}

resource "google_bigquery_dataset_iam_member" "layer_editor" {
  for_each   = google_bigquery_dataset.layer
  dataset_id = each.value.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.rdbt.email}"
}

resource "google_project_iam_member" "job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.rdbt.email}"
}

# The sources, as BigQuery sees the land: one dataset per source of
# project/sources.yml and an external table per source table over its
# Hive-partitioned Parquet (dt=, hr= folders), read where rdbt lands it.
locals {
  source_tables = {
    "kafka.customer_activity_data" = { dataset = "kafka", table = "customer_activity_data" }
    "postgres.customers"           = { dataset = "postgres", table = "customers" }
  }
  source_datasets = toset([for t in local.source_tables : t.dataset])
}

resource "google_bigquery_dataset" "source" {
  for_each    = local.source_datasets
  dataset_id  = each.key
  location    = var.location
  description = "Source ${each.key}: external tables over the land."
}

resource "google_bigquery_table" "source" {
  for_each            = local.source_tables
  dataset_id          = google_bigquery_dataset.source[each.value.dataset].dataset_id
  table_id            = each.value.table
  deletion_protection = false

  external_data_configuration {
    autodetect    = true
    source_format = "PARQUET"
    source_uris   = ["gs://${google_storage_bucket.land.name}/land/${each.value.dataset}/${each.value.table}/*"]

    hive_partitioning_options {
      mode              = "STRINGS"
      source_uri_prefix = "gs://${google_storage_bucket.land.name}/land/${each.value.dataset}/${each.value.table}/"
    }
  }
}

resource "google_bigquery_dataset_iam_member" "source_viewer" {
  for_each   = google_bigquery_dataset.source
  dataset_id = each.value.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.rdbt.email}"
}
