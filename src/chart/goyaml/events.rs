//! libyaml's events, owned: the one place that calls into libyaml-rs's
//! C-style API.

use super::Error;
use libyaml_rs as sys;
use std::mem::MaybeUninit;

#[derive(Debug)]
pub(super) enum Event {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias(Vec<u8>),
    Scalar(Scalar),
    SequenceStart(Props),
    SequenceEnd,
    MappingStart(Props),
    MappingEnd,
}

#[derive(Debug, Default)]
pub(super) struct Props {
    pub anchor: Option<Vec<u8>>,
    pub tag: String,
}

#[derive(Debug)]
pub(super) struct Scalar {
    pub props: Props,
    pub value: String,
    /// Plain and untagged (or tagged `!`): go-yaml resolves it.
    pub implicit: bool,
}

/// libyaml's parser over a borrowed input.
pub(super) struct Parser<'a> {
    /// Boxed: libyaml keeps a pointer to the parser itself as the string
    /// reader's state, so it must not move.
    raw: Box<MaybeUninit<sys::yaml_parser_t>>,
    pub line: u64,
    _input: std::marker::PhantomData<&'a [u8]>,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        let mut raw: Box<MaybeUninit<sys::yaml_parser_t>> = Box::new(MaybeUninit::uninit());
        // SAFETY: yaml_parser_initialize fills the whole struct (it only
        // fails on allocation failure, which aborts in Rust anyway); the
        // input outlives the parser ('a), and the parser is freed in Drop.
        unsafe {
            let p = raw.as_mut_ptr();
            if sys::yaml_parser_initialize(p).fail {
                std::process::abort();
            }
            sys::yaml_parser_set_encoding(p, sys::YAML_UTF8_ENCODING);
            sys::yaml_parser_set_input_string(p, input.as_ptr(), input.len() as u64);
        }
        Parser {
            raw,
            line: 0,
            _input: std::marker::PhantomData,
        }
    }

    pub fn next(&mut self) -> Result<Event, Error> {
        let mut ev = MaybeUninit::<sys::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised in `new`; after a failed call
        // libyaml leaves its error fields set and we never parse again
        // (every caller stops at the first error). A produced event is
        // converted into owned data and then freed exactly once.
        unsafe {
            let p = self.raw.as_mut_ptr();
            let earlier = (&*p).error;
            if earlier != sys::YAML_NO_ERROR || sys::yaml_parser_parse(p, ev.as_mut_ptr()).fail {
                return Err(Error(parse_error(&*p)));
            }
            let e = ev.as_mut_ptr();
            self.line = (*e).start_mark.line;
            let out = convert(&*e);
            sys::yaml_event_delete(e);
            Ok(out)
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, deleted once.
        unsafe { sys::yaml_parser_delete(self.raw.as_mut_ptr()) }
    }
}

/// # Safety
/// `s` is null or a NUL-terminated string owned by libyaml.
unsafe fn c_bytes(s: *const u8) -> Option<Vec<u8>> {
    if s.is_null() {
        return None;
    }
    Some(std::ffi::CStr::from_ptr(s.cast()).to_bytes().to_vec())
}

/// # Safety
/// `e` is an event libyaml just produced.
unsafe fn convert(e: &sys::yaml_event_t) -> Event {
    let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    match e.type_ {
        sys::YAML_STREAM_START_EVENT => Event::StreamStart,
        sys::YAML_STREAM_END_EVENT => Event::StreamEnd,
        sys::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
        sys::YAML_DOCUMENT_END_EVENT => Event::DocumentEnd,
        sys::YAML_ALIAS_EVENT => Event::Alias(c_bytes(e.data.alias.anchor).unwrap_or_default()),
        sys::YAML_SCALAR_EVENT => {
            let s = &e.data.scalar;
            let value = if s.value.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(s.value, s.length as usize).to_vec()
            };
            Event::Scalar(Scalar {
                props: Props {
                    anchor: c_bytes(s.anchor),
                    tag: text(c_bytes(s.tag)).unwrap_or_default(),
                },
                value: String::from_utf8_lossy(&value).into_owned(),
                implicit: s.plain_implicit,
            })
        }
        sys::YAML_SEQUENCE_START_EVENT => {
            let s = &e.data.sequence_start;
            Event::SequenceStart(Props {
                anchor: c_bytes(s.anchor),
                tag: text(c_bytes(s.tag)).unwrap_or_default(),
            })
        }
        sys::YAML_SEQUENCE_END_EVENT => Event::SequenceEnd,
        sys::YAML_MAPPING_START_EVENT => {
            let s = &e.data.mapping_start;
            Event::MappingStart(Props {
                anchor: c_bytes(s.anchor),
                tag: text(c_bytes(s.tag)).unwrap_or_default(),
            })
        }
        _ => Event::MappingEnd,
    }
}

fn parse_error(p: &sys::yaml_parser_t) -> String {
    // SAFETY: libyaml's problem and context are static C strings or null.
    let (problem, context) = unsafe {
        (
            c_bytes(p.problem.cast()).map(|b| String::from_utf8_lossy(&b).into_owned()),
            c_bytes(p.context.cast()).map(|b| String::from_utf8_lossy(&b).into_owned()),
        )
    };
    let at = |m: &sys::yaml_mark_t| format!("line {} column {}", m.line + 1, m.column + 1);
    let mut out = problem.unwrap_or_else(|| "invalid YAML".into());
    out.push_str(&format!(" at {}", at(&p.problem_mark)));
    if let Some(c) = context {
        out.push_str(&format!(", {c} at {}", at(&p.context_mark)));
    }
    out
}
