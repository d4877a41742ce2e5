//! Build-time templates (`templates/*.tmpl`), rendered per cell with
//! minijinja in strict mode: a variable the cell does not define is an
//! error naming the template, the line and the variable.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, Value};

use super::RenderError;

/// Instructions one template may run (kubeadm.yml needs about 2,000).
const TEMPLATE_FUEL: u64 = 1_000_000;

/// Renders `templates/NAME` with `vars`.
pub fn render(dir: &Path, name: &str, vars: &Value) -> Result<String, RenderError> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|source| RenderError::ReadTemplate {
        path: path.clone(),
        source,
    })?;
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A template is code from the repository: bound its work so a loop
    // like `{% for i in range(10**9) %}` ends with an error, not a hang.
    env.set_fuel(Some(TEMPLATE_FUEL));
    let whitespace = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build();
    let syntax = |error: minijinja::Error| RenderError::Template {
        template: path.clone(),
        line: error.line().unwrap_or(0),
        message: error.detail().unwrap_or(&error.to_string()).to_string(),
    };
    env.set_syntax(whitespace.map_err(syntax)?);
    env.add_template(name, &text).map_err(syntax)?;
    let template = env.get_template(name).map_err(syntax)?;
    let mut missing: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|var| vars.get_attr(var).is_ok_and(|v| v.is_undefined()))
        .collect();
    missing.sort();
    if let Some(variable) = missing.into_iter().next() {
        return Err(RenderError::UndefinedVariable {
            line: line_of(&text, &variable),
            template: path,
            variable,
        });
    }
    template.render(vars).map_err(syntax)
}

/// 1-based line of the first template tag that mentions `word`.
fn line_of(text: &str, word: &str) -> usize {
    text.lines()
        .position(|line| {
            (line.contains("{{") || line.contains("{%"))
                && line
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|token| token == word)
        })
        .map_or(0, |index| index + 1)
}

/// The folder of build-time templates next to matrix.toml.
pub fn templates_dir(root: &Path) -> PathBuf {
    root.join("templates")
}
