//! `rdbt produce`: contract events for demos and tests, synthetic or
//! replayed from the real orders export, to an NDJSON file or a topic. Needs
//! no project.

use crate::cli::EXIT_OK;
use crate::cli::args::{GlobalArgs, ProduceArgs};
use crate::cli::session::{Failure, early_printer};
use crate::diagnostics::{Diagnostic, codes};
use std::io::Write;

pub fn run(g: &GlobalArgs, args: &ProduceArgs) -> Result<u8, Failure> {
    let printer = early_printer(g);
    let fail = |d: Diagnostic| {
        printer.diagnostics(&[d]);
        Failure::Reported
    };
    let events =
        match &args.from_orders_csv {
            Some(path) => crate::ingest::events::from_orders_csv(path).map_err(|e| {
                fail(Diagnostic::error(codes::INGEST_INPUT, e).with_help(
                    "pass the orders export, e.g. ../shared/data/food_delivery_orders.csv",
                ))
            })?,
            None => crate::ingest::events::synthetic(args.customers, args.seed),
        };
    let count = events.len();
    if let Some(topic) = &args.topic {
        let brokers = args.brokers.clone().unwrap_or_default();
        let sent =
            crate::ingest::kafka::produce(&brokers, topic, &Default::default(), events.into_iter())
                .map_err(|e| {
                    fail(
                        Diagnostic::error(codes::KAFKA, e.to_string())
                            .with_help("check --brokers and that the topic exists"),
                    )
                })?;
        printer.info(&format!("Produced {sent} messages to {topic} on {brokers}"));
        return Ok(EXIT_OK);
    }
    let Some(output) = &args.output else {
        return Ok(EXIT_OK);
    };
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        for (_, value) in &events {
            out.write_all(value)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    };
    let result = if output.as_os_str() == "-" {
        write(&mut std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        std::fs::File::create(output)
            .and_then(|f| write(&mut std::io::BufWriter::with_capacity(1 << 20, f)))
    };
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Err(Failure::BrokenPipe),
        Err(e) => {
            return Err(fail(Diagnostic::error(
                codes::INGEST_INPUT,
                format!("cannot write {}: {e}", output.display()),
            )));
        }
    }
    if output.as_os_str() != "-" {
        printer.info(&format!("Wrote {count} events to {}", output.display()));
    }
    Ok(EXIT_OK)
}
