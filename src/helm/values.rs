//! Values as Helm computes them for a release: the chart's `values.yaml`
//! coalesced with the overrides, each enabled subchart's defaults
//! coalesced into the parent's map under its name (so the parent sees them
//! too: `.Values.sub` and the subchart's `.Values` are one map), `global`
//! handed down, and dependencies switched by `condition` and `tags`.

use std::collections::BTreeMap;

use super::LoadProblem;
use super::chart::Chart;
use crate::gotmpl::{Dict, Value, semver_compare};

/// Helm's coalescing: `over` wins; maps merge key by key; a `null` in
/// either deletes the key (nulls in lists stay). The result shares nothing
/// with `base` or `over`.
pub(super) fn coalesce(base: &Value, over: &Value) -> Value {
    without_nulls(merged(base, over))
}

/// A map's `null` entries removed, at every depth of maps.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Map(map) => Value::map(
            map.entries()
                .into_iter()
                .filter(|(_, v)| !matches!(v, Value::Nil | Value::Missing))
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

fn merged(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Map(b), Value::Map(o)) => {
            let mut out = b.entries();
            for (key, value) in o.entries() {
                match (out.get(&key), &value) {
                    (_, Value::Nil) => {
                        out.remove(&key);
                    }
                    (Some(existing @ Value::Map(_)), Value::Map(_)) => {
                        let inner = merged(existing, &value);
                        out.insert(key, inner);
                    }
                    _ => {
                        out.insert(key, value.deep_copy());
                    }
                }
            }
            Value::map(out.into_iter().map(|(k, v)| (k, v.deep_copy())).collect())
        }
        (_, Value::Missing) => base.deep_copy(),
        _ => over.deep_copy(),
    }
}

/// The value at a dotted path (`a.b.c`).
pub(super) fn get_path(values: &Value, path: &str) -> Option<Value> {
    let mut value = values.clone();
    for key in path.split('.') {
        value = match value {
            Value::Map(map) => map.get(key)?,
            _ => return None,
        };
    }
    Some(value)
}

/// One chart of the release with the values it renders with.
pub(super) struct Node<'c> {
    pub chart: &'c Chart,
    /// The name it is known by (its alias, if it has one).
    pub name: String,
    /// `parent/charts/child`, the prefix of its template names.
    pub path: String,
    /// Its `.Values`: shared with the parent's map under its name.
    pub values: Dict,
}

/// One `dependencies` entry of `Chart.yaml`.
type Dependency = BTreeMap<String, Value>;

/// A subchart with the name its dependency gives it, as Helm pairs them:
/// a dependency takes the subchart of its name whose version satisfies its
/// constraint (renamed to its alias); a subchart no dependency takes is
/// kept under its own name.
fn dependencies_of(chart: &Chart) -> Vec<(&Chart, String, Option<Dependency>)> {
    let deps = chart.dependencies();
    let text = |dep: &BTreeMap<String, Value>, key: &str| match dep.get(key) {
        Some(Value::Str(s)) => s.clone(),
        _ => String::new(),
    };
    let fits = |dep: &BTreeMap<String, Value>, sub: &Chart| {
        let constraint = text(dep, "version");
        text(dep, "name") == sub.name()
            && (constraint.is_empty() || semver_compare(&constraint, &sub.text("version")).unwrap_or(true))
    };
    let mut out = Vec::new();
    for sub in &chart.subcharts {
        if !deps.iter().any(|dep| fits(dep, sub)) {
            // Kept under its own name; a dependency known by that name
            // (no other alias) still switches it on or off: Helm removes
            // disabled charts by name.
            let named = deps
                .iter()
                .find(|dep| {
                    let alias = text(dep, "alias");
                    text(dep, "name") == sub.name() && (alias.is_empty() || alias == sub.name())
                })
                .cloned();
            out.push((sub, sub.name(), named));
        }
    }
    for dep in deps {
        if let Some(sub) = chart.subcharts.iter().find(|sub| fits(&dep, sub)) {
            let alias = text(&dep, "alias");
            let name = if alias.is_empty() { sub.name() } else { alias };
            out.push((sub, name, Some(dep)));
        }
    }
    out
}

/// Whether a dependency is enabled by its `condition` (the first path
/// that is a boolean decides) and `tags` (any true tag enables).
fn enabled(dep: &BTreeMap<String, Value>, values: &Value, top: &Value) -> bool {
    if let Some(Value::Str(conditions)) = dep.get("condition") {
        let decided = conditions
            .split(',')
            .map(str::trim)
            .find_map(|c| match get_path(values, c) {
                Some(Value::Bool(b)) => Some(b),
                _ => None,
            });
        if let Some(decided) = decided {
            return decided;
        }
    }
    if let Some(Value::List(tags)) = dep.get("tags") {
        let decided: Vec<bool> = tags
            .iter()
            .filter_map(|t| match get_path(top, &format!("tags.{}", t.print())) {
                Some(Value::Bool(b)) => Some(b),
                _ => None,
            })
            .collect();
        if !decided.is_empty() {
            return decided.contains(&true);
        }
    }
    true
}

/// Coalesces the subcharts' defaults into `values` (in place, under each
/// subchart's name) and collects the enabled charts, children first.
pub(super) fn walk<'c>(
    chart: &'c Chart,
    name: String,
    path: String,
    values: Dict,
    top: &Value,
    out: &mut Vec<Node<'c>>,
) -> Result<(), LoadProblem> {
    let here = Value::Map(values.clone());
    let globals = get_path(&here, "global").unwrap_or_else(Value::empty_map);
    for (sub, sub_name, dep) in dependencies_of(chart) {
        let defaults = sub.values().map_err(|problem| LoadProblem::Subchart {
            path: format!("charts/{sub_name}"),
            problem: Box::new(problem),
        })?;
        let given = get_path(&here, &sub_name).unwrap_or(Value::Missing);
        let own = match coalesce(&defaults, &given) {
            Value::Map(map) => map,
            _ => Dict::default(),
        };
        let sub_globals = own.get("global").unwrap_or_else(Value::empty_map);
        own.insert("global", coalesce(&sub_globals, &globals));
        // Conditions read the coalesced values (the subchart's defaults
        // too); a disabled subchart leaves the parent's values as given.
        values.insert(sub_name.clone(), Value::Map(own.clone()));
        if dep.as_ref().is_some_and(|dep| !enabled(dep, &here, top)) {
            if matches!(given, Value::Missing) {
                values.remove(&sub_name);
            } else {
                values.insert(sub_name.clone(), given);
            }
            continue;
        }
        walk(
            sub,
            sub_name.clone(),
            format!("{path}/charts/{sub_name}"),
            own,
            top,
            out,
        )?;
    }
    out.push(Node {
        chart,
        name,
        path,
        values,
    });
    Ok(())
}
