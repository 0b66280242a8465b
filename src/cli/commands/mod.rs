//! One file per command.

mod clean;
mod compile;
mod connect;
mod debug;
mod deps;
mod diff;
mod docs;
mod dry_run;
mod execute;
mod freshness;
mod history;
mod ingest;
mod init;
mod ls;
mod operation;
mod parse;
mod produce;
mod show;
mod sources;

use super::args::{Cli, Command};
use super::session::Failure;

pub fn dispatch(cli: &Cli) -> Result<u8, Failure> {
    let g = &cli.global;
    match &cli.command {
        Command::Debug => debug::run(g),
        Command::Parse => parse::run(g),
        Command::Compile(a) => compile::run(g, a),
        Command::Ls(a) => ls::run(g, a),
        Command::Init(a) => init::run(g, a),
        Command::Deps => deps::run(g),
        Command::Clean => clean::run(g),
        Command::Run(a) => execute::run(g, a, execute::Kind::Run),
        Command::Seed(a) => execute::run(g, a, execute::Kind::Seed),
        Command::Test(a) => execute::run(g, a, execute::Kind::Test),
        Command::Snapshot(a) => execute::run(g, a, execute::Kind::Snapshot),
        Command::Build(a) => execute::run(g, a, execute::Kind::Build),
        Command::Retry(a) => execute::retry(g, a),
        Command::Show(a) => show::run(g, a),
        Command::History(a) => history::history(g, a),
        Command::Clone(a) => history::clone(g, a),
        Command::Diff(a) => diff::run(g, a),
        Command::Rollback(a) => history::rollback(g, a),
        Command::Vacuum(a) => history::vacuum(g, a),
        Command::RunOperation(a) => operation::run(g, a),
        Command::Ingest(a) => ingest::run(g, a),
        Command::Produce(a) => produce::run(g, a),
        Command::Source {
            command: super::args::SourceCommand::Freshness(a),
        } => freshness::run(g, a),
        Command::Docs {
            command: super::args::DocsCommand::Generate(a),
        } => docs::generate(g, a),
        Command::Docs {
            command: super::args::DocsCommand::Serve(a),
        } => docs::serve(g, a),
    }
}
