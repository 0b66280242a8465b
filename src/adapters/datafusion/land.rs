//! Source tables read straight from the land (ARCHITECTURE decisions 5, 6):
//! `<land>/<source>/<table>/` as a Parquet listing table, its Hive folders
//! (`dt=`, `hr=`) as text columns. The land is a read-only layer under the
//! warehouse: a relation the warehouse does not hold is looked up here.

use crate::store::Land;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// `schema.name` from the land, or `None` when nothing has landed there.
pub(crate) async fn land_table(
    ctx: &SessionContext,
    land: &Land,
    schema: &str,
    name: &str,
) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
    let folder = format!("{schema}/{name}");
    let objects = land
        .list(&folder)
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let Some(first) = objects.iter().find(|o| o.path.ends_with(".parquet")) else {
        return Ok(None);
    };
    let partition_cols: Vec<(String, DataType)> = first
        .path
        .strip_prefix(&format!("{folder}/"))
        .unwrap_or(&first.path)
        .split('/')
        .filter_map(|part| {
            part.split_once('=')
                .map(|(k, _)| (k.to_string(), DataType::Utf8))
        })
        .collect();
    let url = ListingTableUrl::parse(land.folder_url(&folder))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_cols);
    let file_schema = options.infer_schema(&ctx.state(), &url).await?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(file_schema);
    Ok(Some(Arc::new(ListingTable::try_new(config)?)))
}

/// Lets the engine read a bucket land.
pub(crate) fn register_land_store(ctx: &SessionContext, land: &Land) {
    if let Some((bucket, store)) = land.bucket_store()
        && let Ok(url) = url::Url::parse(&bucket)
    {
        ctx.register_object_store(&url, store);
    }
}
