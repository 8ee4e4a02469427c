//! The rules interpreter: parameters bound from the SDK's built-ins, rules
//! tried in order (a tree whose children all miss falls through), the
//! functions the five rule sets use, URL templates and `getAttr` paths.

use serde_json::Value;

use super::{partition_in, Endpoint, Params, RuleError, Scope};

pub fn evaluate(
    set: &Value,
    partitions: &Value,
    params: &Params<'_>,
) -> Result<Endpoint, RuleError> {
    let mut scope = Scope::new();
    let defs = set
        .get("parameters")
        .and_then(Value::as_object)
        .ok_or_else(|| RuleError::Data("rule set without parameters".into()))?;
    for (name, def) in defs {
        let given = match def.get("builtIn").and_then(Value::as_str) {
            Some("AWS::Region") => params.region.map(|r| Value::String(r.into())),
            Some("AWS::UseFIPS") => Some(Value::Bool(params.use_fips)),
            Some("AWS::UseDualStack") => Some(Value::Bool(params.use_dual_stack)),
            Some("SDK::Endpoint") => params.endpoint.map(|e| Value::String(e.into())),
            // Anything else (AWS::STS::UseGlobalEndpoint: the Rust SDK always
            // goes regional) takes the rule set's default.
            _ => None,
        };
        match given.or_else(|| def.get("default").cloned()) {
            Some(v) => {
                scope.insert(name.clone(), v);
            }
            None if def.get("required").and_then(Value::as_bool) == Some(true) => {
                return Err(RuleError::Data(format!(
                    "no value for required endpoint parameter {name}"
                )))
            }
            None => {}
        }
    }
    let rules = set
        .get("rules")
        .and_then(Value::as_array)
        .ok_or_else(|| RuleError::Data("rule set without rules".into()))?;
    let ev = Evaluator { partitions };
    match ev.rules(rules, &scope)? {
        Some(e) => Ok(e),
        None => Err(RuleError::Refused(
            "no endpoint rule matches this configuration".into(),
        )),
    }
}

struct Evaluator<'a> {
    partitions: &'a Value,
}

impl Evaluator<'_> {
    fn rules(&self, rules: &[Value], scope: &Scope) -> Result<Option<Endpoint>, RuleError> {
        for rule in rules {
            // Each rule gets its own copy: assignments never leak sideways.
            if let Some(e) = self.rule(rule, scope.clone())? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    fn rule(&self, rule: &Value, mut scope: Scope) -> Result<Option<Endpoint>, RuleError> {
        let conditions = rule
            .get("conditions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for c in conditions {
            let v = self.call(c, &mut scope)?;
            if matches!(v, Value::Null | Value::Bool(false)) {
                return Ok(None);
            }
        }
        match rule.get("type").and_then(Value::as_str) {
            Some("endpoint") => {
                let e = rule
                    .get("endpoint")
                    .ok_or_else(|| RuleError::Data("endpoint rule without endpoint".into()))?;
                let url = match self.value(e.get("url").unwrap_or(&Value::Null), &mut scope)? {
                    Value::String(s) => s,
                    other => {
                        return Err(RuleError::Data(format!(
                            "endpoint URL is not a string: {other}"
                        )))
                    }
                };
                let signing_region = e
                    .pointer("/properties/authSchemes/0/signingRegion")
                    .and_then(Value::as_str)
                    .map(|t| template(t, &scope))
                    .transpose()?;
                Ok(Some(Endpoint {
                    url,
                    signing_region,
                }))
            }
            Some("error") => {
                let msg = self.value(rule.get("error").unwrap_or(&Value::Null), &mut scope)?;
                Err(RuleError::Refused(match msg {
                    Value::String(s) => s,
                    other => other.to_string(),
                }))
            }
            Some("tree") => {
                let children = rule
                    .get("rules")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                self.rules(children, &scope)
            }
            other => Err(RuleError::Data(format!("unknown rule type {other:?}"))),
        }
    }

    fn value(&self, v: &Value, scope: &mut Scope) -> Result<Value, RuleError> {
        match v {
            Value::Object(o) if o.contains_key("fn") => self.call(v, scope),
            Value::Object(o) if o.contains_key("ref") => Ok(o
                .get("ref")
                .and_then(Value::as_str)
                .and_then(|r| scope.get(r))
                .cloned()
                .unwrap_or(Value::Null)),
            Value::String(s) => Ok(Value::String(template(s, scope)?)),
            other => Ok(other.clone()),
        }
    }

    fn call(&self, f: &Value, scope: &mut Scope) -> Result<Value, RuleError> {
        let name = f
            .get("fn")
            .and_then(Value::as_str)
            .ok_or_else(|| RuleError::Data(format!("not a function call: {f}")))?;
        let argv = f
            .get("argv")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut args = Vec::with_capacity(argv.len());
        for a in argv {
            args.push(self.value(a, scope)?);
        }
        let arg = |i: usize| args.get(i).unwrap_or(&Value::Null);
        let result = match name {
            "isSet" => Value::Bool(!arg(0).is_null()),
            "not" => Value::Bool(matches!(arg(0), Value::Null | Value::Bool(false))),
            "booleanEquals" => {
                Value::Bool(matches!((arg(0), arg(1)), (Value::Bool(a), Value::Bool(b)) if a == b))
            }
            "stringEquals" => Value::Bool(
                matches!((arg(0), arg(1)), (Value::String(a), Value::String(b)) if a == b),
            ),
            "getAttr" => match arg(1) {
                Value::String(path) => get_attr(arg(0), path),
                _ => return Err(RuleError::Data("getAttr without a path".into())),
            },
            "aws.partition" => match arg(0) {
                Value::String(region) => Value::Object(partition_in(self.partitions, region)?),
                _ => Value::Null,
            },
            other => {
                return Err(RuleError::Data(format!(
                    "endpoint rule function {other:?} is not supported"
                )))
            }
        };
        if let Some(var) = f.get("assign").and_then(Value::as_str) {
            if scope.contains_key(var) {
                return Err(RuleError::Data(format!(
                    "endpoint rules assign {var} twice"
                )));
            }
            scope.insert(var.to_string(), result.clone());
        }
        Ok(result)
    }
}

/// `a.b[2]` on objects and arrays; missing = null.
fn get_attr(v: &Value, path: &str) -> Value {
    let mut cur = v;
    for part in path.split('.') {
        let (name, index) = match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
            Some((n, i)) => match i.parse::<usize>() {
                Ok(i) => (n, Some(i)),
                Err(_) => return Value::Null,
            },
            None => (part, None),
        };
        if !name.is_empty() {
            match cur.get(name) {
                Some(x) => cur = x,
                None => return Value::Null,
            }
        }
        if let Some(i) = index {
            match cur.get(i) {
                Some(x) => cur = x,
                None => return Value::Null,
            }
        }
    }
    cur.clone()
}

/// `https://api.ecr.{Region}.{PartitionResult#dnsSuffix}`; `{{`/`}}` escape.
fn template(s: &str, scope: &Scope) -> Result<String, RuleError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err(RuleError::Data(format!(
                "unbalanced '}}' in template {s:?}"
            )));
        }
        let end = tail
            .find('}')
            .ok_or_else(|| RuleError::Data(format!("unclosed '{{' in template {s:?}")))?;
        let mut parts = tail[1..end].split('#');
        let var = parts.next().unwrap_or("");
        let mut v = scope
            .get(var)
            .ok_or_else(|| RuleError::Data(format!("template {s:?} names unset {var}")))?;
        for attr in parts {
            v = v
                .get(attr)
                .ok_or_else(|| RuleError::Data(format!("template {s:?}: no {attr}")))?;
        }
        match v {
            Value::String(x) => out.push_str(x),
            other => out.push_str(&other.to_string()),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_attrs() {
        let mut scope = Scope::new();
        scope.insert("Region".into(), "r".into());
        scope.insert("P".into(), serde_json::json!({"a": {"b": ["x", "y"]}}));
        assert_eq!(template("x.{Region}.y", &scope).unwrap(), "x.r.y");
        assert_eq!(template("{Region}{{}}", &scope).unwrap(), "r{}");
        assert!(template("{Nope}", &scope).is_err());
        assert_eq!(get_attr(&scope["P"], "a.b[1]"), "y");
        assert_eq!(get_attr(&scope["P"], "a.b[9]"), Value::Null);
        assert_eq!(get_attr(&scope["P"], "z"), Value::Null);
    }
}
