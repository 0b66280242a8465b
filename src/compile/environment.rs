//! The template environment: every macro of every package registered as its
//! own template, dbt's context functions, and the error mapping back to files.
//! The only place a minijinja `Environment` is built.

use super::context::RenderContext;
use super::errors::{TemplateOrigin, TemplateOrigins, to_diagnostic};
use super::scope::NodeScope;
use super::world::{INTERNAL_PACKAGE, MacroInfo, World};
use crate::diagnostics::{Diagnostic, Diagnostics, Location, codes};
use crate::project::{MacroFile, Project};
use crate::settings::Settings;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{Environment, UndefinedBehavior};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// rdbt's built-in macros, shipped inside the binary as dbt ships its
/// internal package.
const BUILTIN_MACRO_FILES: &[(&str, &str)] = &[
    ("macros/naming.sql", include_str!("builtins/naming.sql")),
    ("macros/tests.sql", include_str!("builtins/tests.sql")),
    ("macros/cross_db.sql", include_str!("builtins/cross_db.sql")),
    ("macros/duckdb.sql", include_str!("builtins/duckdb.sql")),
];

pub struct Compiler {
    pub env: Environment<'static>,
    pub world: Arc<World>,
    pub origins: TemplateOrigins,
    /// Macro files of every package (for the manifest).
    pub macro_files: Vec<(String, MacroFile)>,
    /// Whether a project overrides dbt's naming macros; when not, names are
    /// computed natively (much faster than rendering three macros per node).
    pub custom_naming: bool,
}

impl Compiler {
    pub fn new(project: &Project, settings: &Settings) -> Result<Compiler, Diagnostics> {
        let mut diags = Diagnostics::default();
        let mut env = Environment::new();
        // As dbt's Jinja2 environment: `keep_trailing_newline` off, so a
        // template's one final newline is not part of what it renders.
        let syntax = SyntaxConfig::builder().keep_trailing_newline(false).build();
        match syntax {
            Ok(s) => env.set_syntax(s),
            Err(e) => {
                return Err(
                    Diagnostic::internal(format!("template syntax setup failed: {e}")).into(),
                );
            }
        }
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_formatter(write_value);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_recursion_limit(2000);
        super::functions::register(&mut env);

        let mut macro_files: Vec<(String, MacroFile)> = BUILTIN_MACRO_FILES
            .iter()
            .map(|(path, text)| (INTERNAL_PACKAGE.to_string(), builtin_macro_file(path, text)))
            .collect();
        for p in &project.packages {
            macro_files.extend(p.macro_files.iter().map(|f| (p.name.clone(), f.clone())));
        }
        let mut macros: BTreeMap<String, BTreeMap<String, MacroInfo>> = BTreeMap::new();
        let mut origins = TemplateOrigins::new();
        let mut first_seen: BTreeMap<(String, String), (PathBuf, usize)> = BTreeMap::new();
        for (package, file) in &macro_files {
            for decl in &file.macros {
                let template_name = format!("{package}/{}#{}", file.original_file_path, decl.name);
                let key = (package.clone(), decl.name.clone());
                if let Some((path, line)) = first_seen.get(&key) {
                    diags.push(
                        Diagnostic::error(
                            codes::DUPLICATE_NAME,
                            format!(
                                "macro `{}` is defined twice in package `{package}`",
                                decl.name
                            ),
                        )
                        .at(
                            Location::new(
                                &file.abs_path,
                                decl.first_line + 1,
                                decl.first_column + 1,
                            ),
                            Some(&file.original_text),
                        )
                        .with_help(format!(
                            "it is also defined at {}:{line}; rename or remove one",
                            path.display()
                        )),
                    );
                    continue;
                }
                first_seen.insert(key, (file.abs_path.clone(), decl.first_line + 1));
                // Errors are located in the text the engine saw; lines are the same.
                let engine_text: Arc<str> = Arc::from(
                    super::macros::with_late_defaults(&super::macros::with_variadic_params(
                        &super::mutable::rewrite_literals(&decl.body),
                    ))
                    .as_ref(),
                );
                let origin = TemplateOrigin::at_position(
                    file.abs_path.clone(),
                    file.original_text.clone(),
                    engine_text.clone(),
                    decl.first_line,
                    decl.first_column,
                );
                if let Err(e) =
                    env.add_template_owned(template_name.clone(), engine_text.to_string())
                {
                    let mut single = TemplateOrigins::new();
                    single.insert(template_name.clone(), origin);
                    diags.push(to_diagnostic(&e, &single, None));
                    continue;
                }
                origins.insert(template_name.clone(), origin);
                macros.entry(package.clone()).or_default().insert(
                    decl.name.clone(),
                    MacroInfo {
                        package: package.clone(),
                        name: decl.name.clone(),
                        template_name,
                        unique_id: format!("macro.{package}.{}", decl.name),
                    },
                );
            }
        }
        let custom_naming = macros.iter().any(|(pkg, ms)| {
            pkg != INTERNAL_PACKAGE
                && ms.keys().any(|n| {
                    n.starts_with("generate_") && n.ends_with("_name") || n.contains("__generate_")
                })
        });
        // Each macro is callable as a MacroFn (macros.rs builds on the world,
        // so the world is handed the constructor).
        let world = Arc::new(World::new(project, settings, macros, |info| {
            Value::from_object(super::macros::MacroFn::new(info.clone()))
        }));
        for (name, value) in super::functions::invocation_globals(&world) {
            env.add_global(name, value);
        }
        if diags.has_errors() {
            return Err(diags);
        }
        Ok(Compiler {
            env,
            world,
            origins,
            macro_files,
            custom_naming,
        })
    }

    /// Renders `source` as the node of `scope`; errors point into `origin`.
    pub fn render(
        &self,
        scope: Arc<NodeScope>,
        template_name: &str,
        source: &str,
        origin: &TemplateOrigin,
    ) -> Result<String, Diagnostic> {
        let package = scope.node.package.clone();
        let ctx = Value::from_object(RenderContext { scope, package });
        let engine_text = super::mutable::rewrite_literals(source);
        let rewritten_origin;
        let origin = match &engine_text {
            std::borrow::Cow::Borrowed(_) => origin,
            std::borrow::Cow::Owned(text) => {
                rewritten_origin = TemplateOrigin {
                    template_text: Arc::from(text.as_str()),
                    ..origin.clone()
                };
                &rewritten_origin
            }
        };
        self.env
            .render_named_str(template_name, &engine_text, ctx)
            .map_err(|e| to_diagnostic(&e, &self.origins, Some((template_name, origin))))
    }

    /// Renders a YAML value or profile string that may hold `{{ env_var() }}`
    /// or `{{ var() }}`, outside any node.
    pub fn render_string(
        &self,
        scope: Arc<NodeScope>,
        text: &str,
    ) -> Result<String, minijinja::Error> {
        let package = scope.node.package.clone();
        self.env.render_named_str(
            "<yaml>",
            text,
            Value::from_object(RenderContext { scope, package }),
        )
    }
}

/// Writes an `{{ expression }}`'s value into the output: strings as they
/// are, without minijinja's default `write!(out, "{value}")`, whose
/// formatting machinery cost 350 instructions for each of the ten or so
/// strings a model writes; anything else, and any escaping, as minijinja
/// writes it.
fn write_value(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    if let (minijinja::AutoEscape::None, Some(text)) = (state.auto_escape(), value.as_str()) {
        return out.write_str(text).map_err(minijinja::Error::from);
    }
    minijinja::escape_formatter(out, state, value)
}

fn builtin_macro_file(path: &str, text: &'static str) -> MacroFile {
    let abs = PathBuf::from(format!("<rdbt>/{path}"));
    crate::project::macro_file_from_text(std::path::Path::new("<rdbt>"), &abs, Arc::from(text))
}

/// Renders a lone string with only `env_var()` available: for profiles.yml,
/// which is read before any project exists.
pub fn render_env_string(text: &str) -> Result<String, String> {
    let mut env = Environment::new();
    env.add_function(
        "env_var",
        |name: String, default: Option<String>| -> Result<String, minijinja::Error> {
            crate::settings::read_env(&name).or(default).ok_or_else(|| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("environment variable `{name}` is not set"),
                )
            })
        },
    );
    env.render_str(text, ())
        .map_err(|e| e.detail().map_or_else(|| e.to_string(), str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of value, and escaping switched on inside a template,
    /// comes out as minijinja's own formatter writes it.
    #[test]
    fn values_are_written_as_minijinja_writes_them() {
        let templates = [
            "{{ 'text' }}|{{ 1 }}|{{ 1.5 }}|{{ none }}|{{ true }}|{{ missing }}",
            "{{ [1, 'x', none] }}|{{ {'a': 1} }}|{{ 'a' ~ 2 }}|{{ 'é\"\\\\'|upper }}",
            "{{ '<b>'|safe }}|{% autoescape 'html' %}{{ '<b>' }}|{{ '<i>'|safe }}{% endautoescape %}",
            "{% for x in range(3) %}{{ x }}{{ loop }}{% endfor %}{{ namespace(a=1) }}",
        ];
        let mut ours = Environment::new();
        ours.set_undefined_behavior(UndefinedBehavior::Lenient);
        ours.set_formatter(write_value);
        let mut theirs = Environment::new();
        theirs.set_undefined_behavior(UndefinedBehavior::Lenient);
        for template in templates {
            assert_eq!(
                ours.render_str(template, ()).unwrap(),
                theirs.render_str(template, ()).unwrap(),
                "{template}"
            );
        }
    }
}
