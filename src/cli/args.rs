//! Command-line flags, named as dbt names them. Nothing here leaves `cli/`:
//! flags are turned into [`crate::settings::Flags`] and plain options first.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "rdbt",
    version,
    about = "Build dbt-style SQL projects on an embedded DataFusion warehouse or on BigQuery",
    long_about = "rdbt reads a dbt-style project (rdbt_project.yml or dbt_project.yml, models with Jinja, YAML properties), \
                  compiles it into a graph and builds it. Without a profiles.yml it builds on an embedded local warehouse.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// The project folder: where rdbt_project.yml (or project/rdbt_project.yml, or dbt_project.yml) is. Default: the current folder.
    #[arg(long, global = true, value_name = "DIR", env = "RDBT_PROJECT_DIR")]
    pub project_dir: Option<PathBuf>,
    /// The folder holding profiles.yml. Default: the project folder, then ~/.rdbt, then ~/.dbt.
    #[arg(long, global = true, value_name = "DIR")]
    pub profiles_dir: Option<PathBuf>,
    /// The profile to use instead of the project file's `profile:`.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// The target (output) of the profile to use, e.g. `local` or `prod`.
    #[arg(short = 't', long, global = true, value_name = "NAME")]
    pub target: Option<String>,
    /// Variables for var(), as YAML: --vars '{as_of_date: 2024-06-30}'. Override the project file's vars.
    #[arg(long, global = true, value_name = "YAML")]
    pub vars: Option<String>,
    /// How many nodes to work on at once. Default: the target's `threads`, else the number of cores.
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// Nodes to include, in dbt's selection syntax: `orders`, `+orders`, `tag:daily`, `path:models/gold`, `config.materialized:table`. Repeat or separate with spaces for a union; join with commas for an intersection.
    #[arg(short = 's', long = "select", alias = "models", short_alias = 'm', global = true, value_name = "SELECTOR", num_args = 1.., action = clap::ArgAction::Append)]
    pub select: Vec<String>,
    /// Nodes to leave out, in the same syntax as --select.
    #[arg(long, global = true, value_name = "SELECTOR", num_args = 1.., action = clap::ArgAction::Append)]
    pub exclude: Vec<String>,
    /// A named selector from selectors.yml.
    #[arg(long, global = true, value_name = "NAME")]
    pub selector: Option<String>,
    /// A folder holding the manifest.json of an earlier run, for `state:modified` and `state:new`.
    #[arg(long, global = true, value_name = "DIR", env = "RDBT_STATE")]
    pub state: Option<PathBuf>,
    /// Whether the tests of selected nodes are selected too: eager (any parent selected), cautious (all parents), empty (never).
    #[arg(long, global = true, value_enum, default_value_t = IndirectArg::Eager)]
    pub indirect_selection: IndirectArg,
    /// Output style: `text` for people, `json` for one JSON object per line.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// The lowest level of console lines shown: debug, info (the default), warn, error or none.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "LEVEL",
        env = "RDBT_LOG_LEVEL"
    )]
    pub log_level: Option<LogLevelArg>,
    /// Print only errors (and the output a command exists to print, such as `ls`).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// No colors in output (also when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// The folder of the log file (`dbt.log`, every event of every run, debug ones included). Default: `logs` in the project folder.
    #[arg(long, global = true, value_name = "DIR", env = "RDBT_LOG_PATH")]
    pub log_path: Option<std::path::PathBuf>,
    /// Render every node again instead of reusing the partial-parse cache.
    #[arg(long, global = true)]
    pub no_partial_parse: bool,
    /// Plan every model against its parents' columns before anything runs (compile, run, build, test): `on` reports unknown columns, type mismatches and unknown functions; `strict` also fails a model whose schema cannot be inferred; `off` skips the check.
    #[arg(long, global = true, value_enum, default_value_t = StaticAnalysisArg::On, value_name = "MODE", env = "RDBT_STATIC_ANALYSIS")]
    pub static_analysis: StaticAnalysisArg,
}

impl GlobalArgs {
    /// `--project-dir`, else the working directory.
    pub fn project_dir_arg(&self) -> std::path::PathBuf {
        self.project_dir
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("."))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogLevelArg {
    Debug,
    Info,
    Warn,
    Error,
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum StaticAnalysisArg {
    Off,
    #[default]
    On,
    Strict,
}

impl StaticAnalysisArg {
    pub fn mode(self) -> crate::compile::static_analysis::StaticAnalysis {
        use crate::compile::static_analysis::StaticAnalysis as S;
        match self {
            StaticAnalysisArg::Off => S::Off,
            StaticAnalysisArg::On => S::On,
            StaticAnalysisArg::Strict => S::Strict,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum IndirectArg {
    #[default]
    Eager,
    Cautious,
    Empty,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the resolved settings, profile and target, and check the connection.
    Debug,
    /// Read the project, render every node and write target/manifest.json; reports every problem at once.
    Parse,
    /// Render the selected nodes to SQL under target/compiled/ (nothing runs).
    Compile(CompileArgs),
    /// List the selected resources.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Create a new, runnable project in folder NAME.
    Init(InitArgs),
    /// Install the packages of packages.yml into dbt_packages/.
    Deps,
    /// Delete the folders listed in the project's clean-targets (target/ and dbt_packages/ by default).
    Clean,
    /// Build the selected models in the warehouse, in graph order.
    Run(RunArgs),
    /// Load the selected seeds (CSV files) into the warehouse.
    Seed(RunArgs),
    /// Run the selected data tests.
    Test(RunArgs),
    /// Record changes of the selected snapshots (SCD type 2 history tables).
    Snapshot(RunArgs),
    /// Seeds, models and their tests in graph order; a failing test skips what depends on its model.
    Build(RunArgs),
    /// Run the selected model's SQL (or --inline SQL) and print its first rows.
    Show(ShowArgs),
    /// Run again the nodes that failed or were skipped in the last run (target/run_results.json).
    Retry(RunArgs),
    /// List the versions of the selected tables, newest first: time, invocation, operation, rows.
    History(HistoryArgs),
    /// Clone the selected nodes' relations from --state (another environment's artifacts) into this target, without copying data (dbt's `clone`).
    Clone(CloneArgs),
    /// Compare one model's table here with its relation in --state, row by row by key: rows only on one side, changed values per column, schema differences; exit 1 when they differ.
    Diff(DiffArgs),
    /// Make an earlier version of one selected table current again (as a new version).
    Rollback(RollbackArgs),
    /// Delete the files of the selected tables that no version younger than --retain-hours reads, and compact small files.
    Vacuum(VacuumArgs),
    /// Call a macro (with run_query and the warehouse available) and print what it returns.
    RunOperation(OperationArgs),
    /// Land the selected sources' `ingest:` blocks as Parquet in the target's land: Kafka topics (`--once` by default, or `--follow`), a newline-delimited JSON file (`--from-file`), or the quarantine again after a schema fix (`--replay-quarantine`).
    Ingest(IngestArgs),
    /// Write contract events for demos and tests: synthetic (`--customers`, `--seed`) or replayed from the real orders CSV (`--from-orders-csv`), to an NDJSON file (`--output`) or a Kafka topic (`--topic`, `--brokers`).
    Produce(ProduceArgs),
    /// Commands about sources: `rdbt source freshness`.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// The documentation site: `rdbt docs generate`, then `rdbt docs serve`.
    Docs {
        #[command(subcommand)]
        command: DocsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Write target/catalog.json (columns, types, rows and sizes from the warehouse), the dashboards' data and a self-contained site under target/docs/.
    Generate(DocsGenerateArgs),
    /// Serve target/docs/ over HTTP (loopback only unless --host says otherwise).
    Serve(DocsServeArgs),
}

#[derive(Debug, Args)]
pub struct DocsGenerateArgs {
    /// Do not compile the project; use the SQL of the last compile or run.
    #[arg(long)]
    pub no_compile: bool,
    /// Write an empty catalog without asking the warehouse (no columns, types or sizes from it; dashboards are skipped too).
    #[arg(long)]
    pub empty_catalog: bool,
}

#[derive(Debug, Args)]
pub struct DocsServeArgs {
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The address to bind; anything other than loopback exposes the site to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Open the site in a browser (dbt's default is to; rdbt's is not, as it often runs on servers).
    #[arg(long)]
    pub browser: bool,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Drain every partition to the end offsets seen at start, commit and exit (the default; for CI and scheduled jobs).
    #[arg(long, conflicts_with = "follow")]
    pub once: bool,
    /// Keep consuming until SIGINT or SIGTERM, flushing files by size and by the table's flush_interval; then commit and exit cleanly.
    #[arg(long)]
    pub follow: bool,
    /// Land a newline-delimited JSON file (a path, or a gs:// / s3:// URL) instead of reading the topic; landing the same file again lands nothing twice. Select exactly one table.
    #[arg(long, value_name = "PATH|URL", conflicts_with_all = ["follow", "replay_quarantine"])]
    pub from_file: Option<String>,
    /// Land a deterministic sample of N synthetic customers into the selected tables instead of reading their sources (no services needed): contract events into Kafka-fed tables, customers rows into Postgres-fed ones. For demos and a first build.
    #[arg(long, value_name = "N", conflicts_with_all = ["follow", "from_file", "replay_quarantine"])]
    pub sample: Option<u64>,
    /// Validate the selected tables' quarantined messages again (after a schema fix) and land those that now pass, exactly once.
    #[arg(long, conflicts_with = "follow")]
    pub replay_quarantine: bool,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// How many synthetic customers (about 20 orders and 50 events each).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub customers: u64,
    /// The generator's seed: the same seed gives the same events.
    #[arg(long, default_value_t = 42, value_name = "S")]
    pub seed: u64,
    /// Replay this orders export (../shared/data/food_delivery_orders.csv) as contract events instead of generating them.
    #[arg(long, value_name = "CSV")]
    pub from_orders_csv: Option<PathBuf>,
    /// Write the events as newline-delimited JSON to this file (`-` for stdout).
    #[arg(
        short = 'o',
        long,
        value_name = "FILE",
        required_unless_present = "topic"
    )]
    pub output: Option<PathBuf>,
    /// Produce the events to this Kafka topic (key: the customer id).
    #[arg(
        long,
        value_name = "TOPIC",
        requires = "brokers",
        conflicts_with = "output"
    )]
    pub topic: Option<String>,
    /// The Kafka bootstrap servers for --topic, e.g. 127.0.0.1:9092.
    #[arg(long, value_name = "HOST:PORT", env = "KAFKA_BROKERS")]
    pub brokers: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Check how recent each selected source's data is (loaded_at_field against warn_after / error_after) and write target/sources.json.
    Freshness(FreshnessArgs),
}

#[derive(Debug, Args)]
pub struct FreshnessArgs {
    /// Where to write the results; default target/sources.json.
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct OperationArgs {
    /// The macro to call: `name` or `package.name`.
    pub macro_name: String,
    /// Keyword arguments as YAML: --args '{table: orders, days: 7}'.
    #[arg(long, value_name = "YAML")]
    pub args: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// Rebuild incremental models from scratch and replace seeds.
    #[arg(long)]
    pub full_refresh: bool,
    /// Refs to nodes not selected read --state's relations where this target has none (dbt's `--defer`).
    #[arg(long, requires = "state")]
    pub defer: bool,
    /// With --defer: read --state's relation even where this target has one.
    #[arg(long, requires = "defer")]
    pub favor_state: bool,
    /// With --defer on the embedded warehouse: the folder of --state's warehouse (default: `<state>/warehouse`).
    #[arg(long, value_name = "PATH", requires = "defer")]
    pub state_warehouse: Option<PathBuf>,
    /// Stop at the first failure.
    #[arg(short = 'x', long)]
    pub fail_fast: bool,
    /// Build every model with zero rows: a cheap check of the whole graph.
    #[arg(long)]
    pub empty: bool,
    /// BigQuery: validate every selected model with a dry run, print the
    /// bytes each would process and the total, and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// BigQuery: refuse to run when the dry runs add up to more than this
    /// (`500MB`, `2GB`, `1TB` or bytes); every job is also capped at it.
    #[arg(long, value_name = "BYTES")]
    pub max_bytes: Option<String>,
    /// Only these kinds of the selected nodes (model, seed, snapshot, test, unit_test), as dbt's `build --resource-type`.
    #[arg(long = "resource-type", alias = "resource-types", value_name = "TYPE", num_args = 1.., action = clap::ArgAction::Append)]
    pub resource_types: Vec<String>,
    /// Leave these kinds out of the selected nodes.
    #[arg(long = "exclude-resource-type", alias = "exclude-resource-types", value_name = "TYPE", num_args = 1.., action = clap::ArgAction::Append)]
    pub exclude_resource_types: Vec<String>,
    /// Store every failing test's rows in the audit schema (a test's own `store_failures` config wins).
    #[arg(long)]
    pub store_failures: bool,
    /// Microbatch models build the batches from this time (UTC, `2024-01-01` or `2024-01-01 06:00:00`) instead of their lookback window.
    #[arg(long, value_name = "TIME")]
    pub event_time_start: Option<String>,
    /// ...up to this time (exclusive); the current time when left out.
    #[arg(long, value_name = "TIME")]
    pub event_time_end: Option<String>,
    /// Build on a time sample of the data: every model reads only the rows of its parents (those with an `event_time`) in the last `3 days` (hours, days, months, years), or in `{start: 2024-01-01, end: 2024-01-08}`.
    #[arg(long, value_name = "WINDOW")]
    pub sample: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ShowOutput {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// SQL to run instead of a selected model (Jinja and ref() work).
    #[arg(long, value_name = "SQL")]
    pub inline: Option<String>,
    /// How many rows to print; 0 prints all.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = ShowOutput::Table)]
    pub output: ShowOutput,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// How many versions to list per table; 0 lists all.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = HistoryOutput::Table)]
    pub output: HistoryOutput,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum HistoryOutput {
    Table,
    Json,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("to").required(true).args(["to_version", "to_invocation"])))]
pub struct RollbackArgs {
    /// The version to restore (see `rdbt history`).
    #[arg(long, value_name = "N")]
    pub to_version: Option<u64>,
    /// Restore the version this invocation wrote (its `invocation_id`, as in run_results.json and `rdbt history`).
    #[arg(long, value_name = "ID")]
    pub to_invocation: Option<String>,
}

#[derive(Debug, Args)]
pub struct CloneArgs {
    /// The embedded warehouse folder that holds the state's relations (default: `<state>/warehouse`, as a `target/` folder copied whole has it).
    #[arg(long, value_name = "PATH")]
    pub state_warehouse: Option<std::path::PathBuf>,
    /// Replace relations that already exist in this target (by default they are kept).
    #[arg(long)]
    pub full_refresh: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The columns that identify a row (default: the model's unique_key). Repeatable or comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// The embedded warehouse folder that holds the state's relations (default: `<state>/warehouse`).
    #[arg(long, value_name = "PATH")]
    pub state_warehouse: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = DiffOutput::Table)]
    pub output: DiffOutput,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DiffOutput {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// Keep the files that versions younger than this many hours read, so they can still be read and restored.
    #[arg(long, value_name = "H", default_value_t = 168.0)]
    pub retain_hours: f64,
    /// List the files that would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not compact small files first.
    #[arg(long)]
    pub no_compact: bool,
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Compile this SQL instead of project nodes and print it.
    #[arg(long, value_name = "SQL")]
    pub inline: Option<String>,
    /// BigQuery: ask BigQuery to validate every compiled model (a dry run)
    /// and print the bytes each would process, and the total.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: fail when the total is above this (`2GB`, bytes).
    #[arg(long, value_name = "BYTES")]
    pub max_bytes: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LsOutput {
    /// dbt's selector-style names: `my_project.staging.stg_orders`, `source:my_project.shop.orders`.
    Selector,
    /// Node names.
    Name,
    /// File paths.
    Path,
    /// One JSON object per node.
    Json,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only these resource types (model, seed, snapshot, test, source, exposure, analysis, unit_test). Repeatable.
    #[arg(long = "resource-type", alias = "resource-types", value_name = "TYPE", num_args = 1.., action = clap::ArgAction::Append)]
    pub resource_types: Vec<String>,
    /// What to print for each node.
    #[arg(short = 'o', long, value_enum, default_value_t = LsOutput::Selector)]
    pub output: LsOutput,
    /// With --output json: only these keys (comma separated or repeated).
    #[arg(long, value_name = "KEYS", value_delimiter = ',', num_args = 1.., action = clap::ArgAction::Append)]
    pub output_keys: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project name (letters, digits, underscores); also the folder created.
    pub name: String,
}
