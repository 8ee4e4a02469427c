//! What the `helm ecr-push` tests share across files (push_*, ecr_public_lab,
//! tls_client_cert, faults, oci_ecr_front): one push of one chart, the
//! one-line failures they check for, a `--describe` push's text and a JSON
//! line read, the lab registry's Basic credentials, and a stand-in ECR API
//! before moto.

use super::front::{forward, Front, Request, Response};
use super::*;

/// `helm ecr-push CHART REMOTE FLAGS...` in the sandbox (cwd = its work dir).
pub fn push_chart(sb: &Sandbox, chart: &Path, remote: &str, flags: &[&str]) -> Output {
    let mut args = vec!["ecr-push", path_str(chart), remote];
    args.extend_from_slice(flags);
    sb.helm(&args)
}

/// The plugin failed with exit status 1 and wrote one line on stderr (no
/// other, not even a warning); returns that line. `who` (a Helm's name, a
/// case) starts the failure message when it is not empty.
#[track_caller]
pub fn failure_line(out: &Output, who: &str) -> String {
    let who = if who.is_empty() {
        String::new()
    } else {
        format!("{who}: ")
    };
    assert_eq!(out.status.code(), Some(1), "{who}{out}");
    let lines = out.plugin_stderr_lines();
    assert_eq!(lines.len(), 1, "{who}one line:\n{out}");
    lines[0].to_string()
}

/// The plugin failed with exit status 1, printed nothing on stdout, and
/// wrote one error line (other stderr lines, such as warnings, aside);
/// returns that line.
#[track_caller]
pub fn only_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    out.single_error()
}

/// What a `--describe` push printed: asserts it succeeded with `Pushed:
/// REFERENCE` and `Digest: sha256:...` first, then, in any order among
/// what describes the image, every line of `described`; returns the digest.
#[track_caller]
pub fn assert_pushed_and_described(out: &Output, reference: &str, described: &[String]) -> String {
    out.assert_ok();
    let mut lines = out.stdout.lines();
    let pushed = format!("Pushed: {reference}");
    assert_eq!(lines.next(), Some(pushed.as_str()), "{out}");
    let digest = lines
        .next()
        .and_then(|l| l.strip_prefix("Digest: "))
        .filter(|d| d.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no `Digest: sha256:...` line:\n{out}"));
    let shown: Vec<&str> = lines.collect();
    for want in described {
        assert!(shown.contains(&want.as_str()), "missing {want:?}:\n{out}");
    }
    digest.to_string()
}

/// The plugin succeeded and wrote one JSON object on stdout; returns it.
#[track_caller]
pub fn json_line(out: &Output) -> serde_json::Value {
    out.assert_ok();
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON line ({e}):\n{out}"))
}

/// `Authorization: Basic ...` for the lab registries (user AWS, the lab
/// password): what ECR's own tokens come to.
pub fn lab_basic() -> String {
    let password = &Lab::get().registry_password;
    format!(
        "Basic {}",
        base64_encode(format!("AWS:{password}").as_bytes())
    )
}

/// A stand-in for the lab's ECR API: a call of `op` (the action its
/// X-Amz-Target names, e.g. `DescribeImages`) goes to `handle` with moto's
/// URL, to answer itself or to forward and change the answer; every other
/// call goes to moto as it is. Point AWS_ENDPOINT_URL_ECR at its `url()`.
pub fn ecr_api_front(
    op: &'static str,
    handle: impl Fn(&Request, &str) -> Response + Send + Sync + 'static,
) -> Front {
    let moto = Lab::get().ecr_endpoint.clone();
    Front::start(move |mut ex| {
        ex.read_body()?;
        let target = ex.request.header("x-amz-target").unwrap_or("");
        let resp = if target.ends_with(&format!(".{op}")) {
            handle(&ex.request, &moto)
        } else {
            forward(&moto, &ex.request)
        };
        ex.reply(&resp)
    })
}
