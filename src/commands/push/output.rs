//! One result per chart, in the order given: text like `helm push`, or
//! JSON Lines.

use super::{Outcome, OutputFormat};
use crate::oci::PushStatus;
use std::io::Write;

pub(super) fn report(outcomes: &[Outcome], format: OutputFormat) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    for o in outcomes {
        if let Some(err) = &o.error {
            failed = true;
            eprintln!("Error: {}: {}", o.chart, err);
        }
        if let Some(w) = &o.warning {
            eprintln!("Warning: {}: {}", o.chart, w);
        }
        let line = match format {
            OutputFormat::Json => json_line(o),
            OutputFormat::Text => match (o.status, &o.reference, &o.digest) {
                (Some(status), Some(r), Some(d)) => {
                    let verb = match status {
                        PushStatus::Pushed => "Pushed",
                        PushStatus::Unchanged => "Unchanged",
                        PushStatus::DryRun => "Would push",
                    };
                    match &o.description {
                        Some(desc) => format!("{verb}: {r}\nDigest: {d}\n{desc}"),
                        None => format!("{verb}: {r}\nDigest: {d}"),
                    }
                }
                _ => continue,
            },
        };
        // A closed stdout (`| head`) is not worth a panic.
        let _ = writeln!(out, "{line}");
    }
    i32::from(failed)
}

pub(super) fn json_line(o: &Outcome) -> String {
    let status = match (o.status, &o.error) {
        (_, Some(_)) | (None, None) => "failed",
        (Some(PushStatus::Pushed), None) => "pushed",
        (Some(PushStatus::Unchanged), None) => "unchanged",
        (Some(PushStatus::DryRun), None) => "dry-run",
    };
    let mut v = serde_json::json!({
        "ref": o.reference,
        "digest": o.digest,
        "chart": o.name.clone().unwrap_or_else(|| o.chart.clone()),
        "version": o.version,
        "size": o.size,
        "status": status,
    });
    if let Some(e) = &o.error {
        v["error"] = serde_json::Value::String(e.clone());
    }
    if let Some(image) = &o.image {
        v["image"] = image.clone();
    }
    if let Some(w) = &o.warning {
        v["warning"] = serde_json::Value::String(w.clone());
    }
    v.to_string()
}
