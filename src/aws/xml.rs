//! Just enough XML for STS replies and moto's error documents: the text of
//! the first element with a given name. AWS XML has no attributes we need and
//! no mixed content in the fields we read.

/// Text of the first `<name>...</name>` (namespace prefixes not expected).
pub fn text(doc: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = doc.find(&open)? + open.len();
    let end = doc[start..].find(&close)? + start;
    Some(unescape(doc[start..end].trim()))
}

/// The slice inside the first `<name>...</name>`, for nested lookups.
pub fn element<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = doc.find(&open)? + open.len();
    let end = doc[start..].find(&close)? + start;
    Some(&doc[start..end])
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_text_and_entities() {
        let doc = "<ErrorResponse><Errors><Error><Code>AccessDenied</Code>\
                   <Message>User: a&amp;b &lt;x&gt; &#39;y&#x27;</Message></Error></Errors></ErrorResponse>";
        assert_eq!(text(doc, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(text(doc, "Message").as_deref(), Some("User: a&b <x> 'y'"));
        assert_eq!(text(doc, "Nope"), None);
        let err = element(doc, "Error").unwrap();
        assert!(err.starts_with("<Code>"));
    }

    #[test]
    fn unknown_entities_are_kept() {
        assert_eq!(unescape("a &foo; b & c"), "a &foo; b & c");
    }
}
