//! Rendering `service-template/` (cargo-generate format) without cargo-generate,
//! and checking that services still match the files the template owns.
//!
//! Template layout:
//! - `cargo-generate.toml`: `[template] exclude = [globs]` (copied verbatim,
//!   never rendered: e.g. workflows whose `${{ }}` must survive), `ignore = [globs]`
//!   (not copied at all), optional `include = [globs]` (if set, only these are
//!   rendered), and `[placeholders]` (only their `default`s are used here).
//! - `template-owned.txt`: glob patterns, one per line (`#` comments), of the
//!   files that stay owned by the template after generation.
//! - Every other file's contents and path are rendered with liquid using
//!   `project-name`, `crate_name`, `schema` and `port`; a `.liquid` suffix is dropped.
//!
//! Globs follow .gitignore conventions: a pattern without `/` matches at any
//! depth, a pattern naming a directory covers everything below it, and a
//! leading `/` anchors it to the template root.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use liquid::model::Value;
use toml_edit::{DocumentMut, Item};

use crate::infra::workspace;

/// The template's configuration file (never copied).
pub const CONFIG_FILE: &str = "cargo-generate.toml";
/// The list of template-owned globs (never copied).
pub const OWNED_FILE: &str = "template-owned.txt";
/// The template's directory in the workspace.
pub const TEMPLATE_DIR: &str = "service-template";

/// The variables a service is rendered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateVars {
    /// `catalog-service`
    pub project_name: String,
    /// `catalog_service`
    pub crate_name: String,
    /// `catalog`
    pub schema: String,
    /// `8002`
    pub port: u16,
}

impl TemplateVars {
    /// The variables of service `project_name` (crate name derived from it).
    pub fn new(project_name: &str, schema: &str, port: u16) -> Self {
        Self {
            project_name: project_name.to_owned(),
            crate_name: project_name.replace('-', "_"),
            schema: schema.to_owned(),
            port,
        }
    }

    fn to_object(&self, defaults: &BTreeMap<String, Value>) -> liquid::Object {
        let mut globals = liquid::Object::new();
        // cargo-generate's built-ins that a template might reasonably use.
        globals.insert("crate_type".into(), Value::scalar("bin"));
        globals.insert("authors".into(), Value::scalar(""));
        globals.insert("within_cargo_project".into(), Value::scalar(true));
        globals.insert("is_init".into(), Value::scalar(false));
        for (key, value) in defaults {
            globals.insert(key.clone().into(), value.clone());
        }
        globals.insert(
            "project-name".into(),
            Value::scalar(self.project_name.clone()),
        );
        globals.insert("crate_name".into(), Value::scalar(self.crate_name.clone()));
        globals.insert("schema".into(), Value::scalar(self.schema.clone()));
        globals.insert("port".into(), Value::scalar(i64::from(self.port)));
        globals
    }
}

/// One file produced by a render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Path in the template (`.github/workflows/{{project-name}}.yml`).
    pub source: String,
    /// Path in the output (`.github/workflows/catalog-service.yml`).
    pub path: String,
    /// True if `template-owned.txt` claims it.
    pub owned: bool,
}

/// A loaded template directory.
pub struct Template {
    dir: PathBuf,
    exclude: GlobSet,
    ignore: GlobSet,
    include: Option<GlobSet>,
    owned_patterns: Vec<String>,
    defaults: BTreeMap<String, Value>,
    required: Vec<String>,
    parser: liquid::Parser,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("dir", &self.dir)
            .field("owned_patterns", &self.owned_patterns)
            .finish_non_exhaustive()
    }
}

/// Keys `TemplateVars` always provides.
const PROVIDED: [&str; 4] = ["project-name", "crate_name", "schema", "port"];

impl Template {
    /// Reads `cargo-generate.toml` and `template-owned.txt` (both optional) from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!("template directory {} does not exist", dir.display());
        }
        let config_path = dir.join(CONFIG_FILE);
        let config = if config_path.is_file() {
            workspace::read_toml(&config_path)?
        } else {
            DocumentMut::new()
        };
        let list = |key: &str| -> Result<Vec<String>> {
            let Some(item) = config.get("template").and_then(|t| t.get(key)) else {
                return Ok(Vec::new());
            };
            let array = item.as_array().with_context(|| {
                format!("{}: template.{key} must be an array", config_path.display())
            })?;
            array
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).with_context(|| {
                        format!(
                            "{}: template.{key} must hold strings",
                            config_path.display()
                        )
                    })
                })
                .collect()
        };
        let exclude = glob_set(&list("exclude")?)?;
        let ignore = glob_set(&list("ignore")?)?;
        let include = list("include")?;
        let include = if include.is_empty() {
            None
        } else {
            Some(glob_set(&include)?)
        };

        let mut defaults = BTreeMap::new();
        let mut required = Vec::new();
        if let Some(placeholders) = config.get("placeholders").and_then(Item::as_table_like) {
            for (key, spec) in placeholders.iter() {
                if PROVIDED.contains(&key) {
                    continue;
                }
                match spec
                    .get("default")
                    .and_then(Item::as_value)
                    .and_then(toml_to_liquid)
                {
                    Some(value) => {
                        defaults.insert(key.to_owned(), value);
                    }
                    None => required.push(key.to_owned()),
                }
            }
        }

        let owned_path = dir.join(OWNED_FILE);
        let owned_patterns = if owned_path.is_file() {
            std::fs::read_to_string(&owned_path)
                .with_context(|| format!("reading {}", owned_path.display()))?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect()
        } else {
            Vec::new()
        };

        Ok(Self {
            dir: dir.to_path_buf(),
            exclude,
            ignore,
            include,
            owned_patterns,
            defaults,
            required,
            parser: parser()?,
        })
    }

    /// The template's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Renders the template into `dest` (created if missing; must not hold other files
    /// the template also produces), returning what was written.
    pub fn render(&self, vars: &TemplateVars, dest: &Path) -> Result<Vec<RenderedFile>> {
        if let Some(key) = self.required.first() {
            bail!(
                "{}: placeholder `{key}` has no default and xtask only provides {}",
                self.dir.join(CONFIG_FILE).display(),
                PROVIDED.join(", ")
            );
        }
        let globals = vars.to_object(&self.defaults);
        let owned = self.owned_matcher(&globals)?;
        let mut sources = Vec::new();
        walk(&self.dir, Path::new(""), &mut sources)?;
        sources.sort();

        let mut written: BTreeMap<String, String> = BTreeMap::new();
        let mut files = Vec::new();
        for rel in sources {
            let source = to_slash(&rel);
            if source == CONFIG_FILE || source == OWNED_FILE || self.ignore.is_match(&source) {
                continue;
            }
            let from = self.dir.join(&rel);
            let bytes =
                std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
            let path = self
                .render_text(&source, &globals)
                .with_context(|| format!("rendering the path {source}"))?;
            let path = path.strip_suffix(".liquid").unwrap_or(&path).to_owned();
            check_relative(&path).with_context(|| format!("{source} renders to `{path}`"))?;
            if let Some(other) = written.insert(path.clone(), source.clone()) {
                bail!("{other} and {source} both render to {path}");
            }
            let verbatim = self.exclude.is_match(&source)
                || self
                    .include
                    .as_ref()
                    .is_some_and(|inc| !inc.is_match(&source));
            let contents = match (verbatim, String::from_utf8(bytes)) {
                (false, Ok(text)) => self
                    .render_text(&text, &globals)
                    .with_context(|| format!("rendering {}", from.display()))?
                    .into_bytes(),
                (_, Ok(text)) => text.into_bytes(),
                // Not UTF-8: a binary file, copied as is.
                (_, Err(err)) => err.into_bytes(),
            };
            let to = dest.join(&path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&to, contents).with_context(|| format!("writing {}", to.display()))?;
            // Keep executable bits (scripts).
            let permissions = std::fs::metadata(&from)?.permissions();
            std::fs::set_permissions(&to, permissions)
                .with_context(|| format!("setting permissions of {}", to.display()))?;
            files.push(RenderedFile {
                owned: owned.is_match(&path) || self.raw_owned_match(&source)?,
                source,
                path,
            });
        }
        Ok(files)
    }

    fn render_text(&self, text: &str, globals: &liquid::Object) -> Result<String> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(text.to_owned());
        }
        let template = self.parser.parse(text)?;
        Ok(template.render(globals)?)
    }

    /// Owned patterns are rendered first, so `{{project-name}}` may appear in them.
    fn owned_matcher(&self, globals: &liquid::Object) -> Result<GlobSet> {
        let rendered = self
            .owned_patterns
            .iter()
            .map(|p| self.render_text(p, globals))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("rendering {}", self.dir.join(OWNED_FILE).display()))?;
        glob_set(&rendered)
    }

    fn raw_owned_match(&self, source: &str) -> Result<bool> {
        // Patterns written against template paths (`{{project-name}}.yml`) as well.
        let raw: Vec<String> = self
            .owned_patterns
            .iter()
            .filter(|p| p.contains("{{"))
            .cloned()
            .collect();
        if raw.is_empty() {
            return Ok(false);
        }
        Ok(glob_set(&raw)?.is_match(source))
    }
}

fn toml_to_liquid(value: &toml_edit::Value) -> Option<Value> {
    match value {
        toml_edit::Value::String(s) => Some(Value::scalar(s.value().clone())),
        toml_edit::Value::Integer(i) => Some(Value::scalar(*i.value())),
        toml_edit::Value::Boolean(b) => Some(Value::scalar(*b.value())),
        toml_edit::Value::Float(f) => Some(Value::scalar(*f.value())),
        _ => None,
    }
}

/// Template paths use `/` whatever the platform.
fn to_slash(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn check_relative(path: &str) -> Result<()> {
    let path = Path::new(path);
    let escapes = path
        .components()
        .any(|c| !matches!(c, Component::Normal(_)));
    if path.as_os_str().is_empty() || escapes {
        bail!("not a plain relative path");
    }
    Ok(())
}

/// Lists the template's files, skipping `.git/` anywhere and `target/` at the top.
fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let dir = root.join(rel);
    let entries = std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        let child = rel.join(&name);
        let path = entry.path();
        if path.is_dir() {
            if name == ".git" || (rel.as_os_str().is_empty() && name == "target") {
                continue;
            }
            walk(root, &child, out)?;
        } else if path.is_file() {
            out.push(child);
        }
    }
    Ok(())
}

/// Compiles .gitignore-style patterns into one matcher.
pub fn glob_set(patterns: &[String]) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        for expanded in expand_pattern(pattern) {
            let glob = GlobBuilder::new(&expanded)
                .literal_separator(true)
                .build()
                .with_context(|| format!("invalid glob `{pattern}`"))?;
            builder.add(glob);
        }
    }
    Ok(builder.build()?)
}

fn expand_pattern(pattern: &str) -> Vec<String> {
    let pattern = pattern.trim();
    let (anchored, body) = match pattern.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (dir_only, body) = match body.strip_suffix('/') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let mut bases = vec![body.to_owned()];
    if !anchored && !body.contains('/') && !body.starts_with("**") {
        bases.push(format!("**/{body}"));
    }
    let mut out = Vec::new();
    for base in bases {
        if !dir_only {
            out.push(base.clone());
        }
        out.push(format!("{base}/**"));
    }
    out
}

/// A liquid parser with the standard library and cargo-generate's case filters.
fn parser() -> Result<liquid::Parser> {
    Ok(liquid::ParserBuilder::with_stdlib()
        .filter(filters::KebabCase)
        .filter(filters::SnakeCase)
        .filter(filters::PascalCase)
        .filter(filters::UpperCamelCase)
        .filter(filters::LowerCamelCase)
        .filter(filters::ShoutySnakeCase)
        .filter(filters::ShoutyKebabCase)
        .filter(filters::TitleCase)
        .build()?)
}

/// A drifted template-owned file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The service lacks a file the template owns.
    Missing {
        /// Path relative to the service.
        path: String,
    },
    /// The service's file differs from the render.
    Changed {
        /// Path relative to the service.
        path: String,
        /// Unified diff from the render (`---`) to the service (`+++`).
        diff: String,
    },
}

impl Drift {
    /// The drifted file's path relative to the service directory.
    pub fn path(&self) -> &str {
        match self {
            Drift::Missing { path } | Drift::Changed { path, .. } => path,
        }
    }
}

/// Renders `template` for `vars` into `scratch` (emptied first) and compares every
/// template-owned file byte for byte with `service_dir`.
pub fn check_service(
    template: &Template,
    vars: &TemplateVars,
    service_dir: &Path,
    scratch: &Path,
) -> Result<Vec<Drift>> {
    if scratch.exists() {
        std::fs::remove_dir_all(scratch)
            .with_context(|| format!("removing {}", scratch.display()))?;
    }
    std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let files = template.render(vars, scratch)?;
    let mut drifts = Vec::new();
    for file in files.iter().filter(|f| f.owned) {
        let expected = std::fs::read(scratch.join(&file.path))?;
        let actual_path = service_dir.join(&file.path);
        let Ok(actual) = std::fs::read(&actual_path) else {
            drifts.push(Drift::Missing {
                path: file.path.clone(),
            });
            continue;
        };
        if expected == actual {
            continue;
        }
        let diff = match (std::str::from_utf8(&expected), std::str::from_utf8(&actual)) {
            (Ok(expected), Ok(actual)) => similar::TextDiff::from_lines(expected, actual)
                .unified_diff()
                .context_radius(3)
                .header(
                    &format!("template/{}", file.path),
                    &format!("{}/{}", vars.project_name, file.path),
                )
                .to_string(),
            _ => "binary files differ\n".to_owned(),
        };
        drifts.push(Drift::Changed {
            path: file.path.clone(),
            diff,
        });
    }
    Ok(drifts)
}

/// Runs the template check for every workspace member with
/// `[package.metadata.template]`, printing each drift; returns the number of drifted files.
pub fn check_workspace(root: &Path) -> Result<usize> {
    let members: Vec<_> = workspace::members(root)?
        .into_iter()
        .filter_map(|m| m.template.clone().map(|t| (m, t)))
        .collect();
    if members.is_empty() {
        println!(
            "template-check: no workspace member has [package.metadata.template]; nothing to check"
        );
        return Ok(0);
    }
    let template = Template::load(&root.join(TEMPLATE_DIR))?;
    let scratch_root = workspace::scratch_dir(root).join("template-check");
    let mut total = 0;
    for (member, meta) in members {
        let vars = TemplateVars::new(&member.package, &meta.schema, meta.port);
        let drifts = check_service(
            &template,
            &vars,
            &member.dir,
            &scratch_root.join(&member.package),
        )
        .with_context(|| format!("checking {}", member.package))?;
        if drifts.is_empty() {
            println!("template-check: {} matches the template", member.package);
        }
        for drift in &drifts {
            match drift {
                Drift::Missing { path } => {
                    println!(
                        "template-check: {}/{path} is missing (owned by the template)",
                        member.package
                    )
                }
                Drift::Changed { path, diff } => {
                    println!(
                        "template-check: {}/{path} drifted from the template:",
                        member.package
                    );
                    print!("{diff}");
                }
            }
        }
        total += drifts.len();
    }
    if total > 0 {
        println!(
            "template-check: {total} drifted file(s). Template-owned files ({TEMPLATE_DIR}/{OWNED_FILE}) \
             must be changed in the template, then re-rendered into every service."
        );
    }
    Ok(total)
}

/// cargo-generate's case-conversion filters (`{{project-name | pascal_case}}`).
mod filters {
    use liquid_core::{
        Display_filter, Filter, FilterReflection, ParseFilter, Result, Runtime, Value, ValueView,
    };

    /// Splits on non-alphanumerics and lower-to-upper boundaries: `catalog-service`, `CatalogService`.
    fn words(input: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut current = String::new();
        let mut prev_lower = false;
        for c in input.chars() {
            if !c.is_alphanumeric() {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
                prev_lower = false;
                continue;
            }
            if c.is_uppercase() && prev_lower && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            current.push(c);
        }
        if !current.is_empty() {
            words.push(current);
        }
        words
    }

    fn capitalised(word: &str) -> String {
        let lower = word.to_lowercase();
        let mut chars = lower.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    }

    pub(super) fn kebab(s: &str) -> String {
        words(s)
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join("-")
    }
    pub(super) fn snake(s: &str) -> String {
        words(s)
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join("_")
    }
    pub(super) fn pascal(s: &str) -> String {
        words(s).iter().map(|w| capitalised(w)).collect()
    }
    pub(super) fn lower_camel(s: &str) -> String {
        let mut out = String::new();
        for (i, w) in words(s).iter().enumerate() {
            if i == 0 {
                out.push_str(&w.to_lowercase());
            } else {
                out.push_str(&capitalised(w));
            }
        }
        out
    }
    pub(super) fn shouty_snake(s: &str) -> String {
        words(s)
            .iter()
            .map(|w| w.to_uppercase())
            .collect::<Vec<_>>()
            .join("_")
    }
    pub(super) fn shouty_kebab(s: &str) -> String {
        words(s)
            .iter()
            .map(|w| w.to_uppercase())
            .collect::<Vec<_>>()
            .join("-")
    }
    pub(super) fn title(s: &str) -> String {
        words(s)
            .iter()
            .map(|w| capitalised(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    macro_rules! case_filter {
        ($filter:ident, $parsed:ident, $name:literal, $convert:path) => {
            #[derive(Clone, ParseFilter, FilterReflection)]
            #[filter(name = $name, description = "cargo-generate case conversion", parsed($parsed))]
            pub(super) struct $filter;

            #[derive(Debug, Default, Display_filter)]
            #[name = $name]
            struct $parsed;

            impl Filter for $parsed {
                fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> Result<Value> {
                    Ok(Value::scalar($convert(&input.to_kstr())))
                }
            }
        };
    }

    case_filter!(KebabCase, KebabCaseFilter, "kebab_case", kebab);
    case_filter!(SnakeCase, SnakeCaseFilter, "snake_case", snake);
    case_filter!(PascalCase, PascalCaseFilter, "pascal_case", pascal);
    case_filter!(
        UpperCamelCase,
        UpperCamelCaseFilter,
        "upper_camel_case",
        pascal
    );
    case_filter!(
        LowerCamelCase,
        LowerCamelCaseFilter,
        "lower_camel_case",
        lower_camel
    );
    case_filter!(
        ShoutySnakeCase,
        ShoutySnakeCaseFilter,
        "shouty_snake_case",
        shouty_snake
    );
    case_filter!(
        ShoutyKebabCase,
        ShoutyKebabCaseFilter,
        "shouty_kebab_case",
        shouty_kebab
    );
    case_filter!(TitleCase, TitleCaseFilter, "title_case", title);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a small template exercising every rule into `dir`.
    pub(crate) fn write_fixture(dir: &Path) -> Result<()> {
        let files: &[(&str, &str)] = &[
            (
                CONFIG_FILE,
                "[template]\nexclude = [\".github/workflows/*\"]\nignore = [\"*.bak\", \"scratch/\"]\n\n\
                 [placeholders]\nschema = { type = \"string\", prompt = \"schema?\" }\n\
                 port = { type = \"string\", prompt = \"port?\" }\nowner = { type = \"string\", prompt = \"owner?\", default = \"platform\" }\n",
            ),
            (
                OWNED_FILE,
                "# files the template keeps owning\nDockerfile\n.github/workflows/{{project-name}}.yml\nsrc/main.rs\n",
            ),
            (
                "Cargo.toml",
                "[package]\nname = \"{{project-name}}\"\n\n[package.metadata.template]\nschema = \"{{schema}}\"\nport = {{port}}\n",
            ),
            (
                "src/main.rs",
                "fn main() {\n    println!(\"{{crate_name}} on {{port}}\");\n}\n",
            ),
            (
                "src/lib.rs",
                "//! {{project-name | pascal_case}} owned by {{owner}}.\npub struct {{project-name | pascal_case}};\n",
            ),
            (
                "Dockerfile",
                "FROM scratch\nCOPY {{project-name}} /app\nEXPOSE {{port}}\n",
            ),
            (
                ".github/workflows/{{project-name}}.yml",
                "run: echo ${{ github.sha }}\n",
            ),
            (
                "migrations/0001_{{schema}}.sql.liquid",
                "CREATE TABLE {{schema}}.things (id bigint);\n",
            ),
            ("notes.bak", "not copied\n"),
            ("scratch/junk.txt", "not copied\n"),
            ("target/debug/junk", "not copied\n"),
        ];
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().context("fixture path has a parent")?)?;
            std::fs::write(path, text)?;
        }
        Ok(())
    }

    #[test]
    fn renders_contents_and_paths() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let template_dir = tmp.path().join("template");
        write_fixture(&template_dir)?;
        let template = Template::load(&template_dir)?;
        let out = tmp.path().join("out");
        let files =
            template.render(&TemplateVars::new("catalog-service", "catalog", 8002), &out)?;
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".github/workflows/catalog-service.yml",
                "Cargo.toml",
                "Dockerfile",
                "migrations/0001_catalog.sql",
                "src/lib.rs",
                "src/main.rs",
            ]
        );
        let owned: Vec<&str> = files
            .iter()
            .filter(|f| f.owned)
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            owned,
            [
                ".github/workflows/catalog-service.yml",
                "Dockerfile",
                "src/main.rs"
            ]
        );
        let read = |p: &str| std::fs::read_to_string(out.join(p));
        assert_eq!(
            read(".github/workflows/catalog-service.yml")?,
            "run: echo ${{ github.sha }}\n"
        );
        assert!(read("Cargo.toml")?.contains("name = \"catalog-service\""));
        assert!(read("Cargo.toml")?.contains("port = 8002\n"));
        assert!(read("src/main.rs")?.contains("catalog_service on 8002"));
        assert_eq!(
            read("src/lib.rs")?,
            "//! CatalogService owned by platform.\npub struct CatalogService;\n"
        );
        assert_eq!(
            read("migrations/0001_catalog.sql")?,
            "CREATE TABLE catalog.things (id bigint);\n"
        );
        assert!(!out.join(CONFIG_FILE).exists());
        assert!(!out.join(OWNED_FILE).exists());
        assert!(!out.join("target").exists());
        Ok(())
    }

    #[test]
    fn check_passes_untouched_and_reports_drift() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let template_dir = tmp.path().join("template");
        write_fixture(&template_dir)?;
        let template = Template::load(&template_dir)?;
        let vars = TemplateVars::new("order-service", "orders", 8003);
        let service = tmp.path().join("order-service");
        template.render(&vars, &service)?;
        let scratch = tmp.path().join("scratch");

        assert_eq!(check_service(&template, &vars, &service, &scratch)?, []);

        // Service-owned files may change freely.
        std::fs::write(service.join("src/lib.rs"), "pub fn mine() {}\n")?;
        assert_eq!(check_service(&template, &vars, &service, &scratch)?, []);

        // A template-owned file may not.
        std::fs::write(
            service.join("Dockerfile"),
            "FROM scratch\nCOPY order-service /app\nEXPOSE 9999\n",
        )?;
        std::fs::remove_file(service.join("src/main.rs"))?;
        let drifts = check_service(&template, &vars, &service, &scratch)?;
        assert_eq!(drifts.len(), 2);
        let Drift::Changed { path, diff } = &drifts[0] else {
            panic!("expected a changed Dockerfile, got {drifts:?}");
        };
        assert_eq!(path, "Dockerfile");
        assert!(diff.contains("--- template/Dockerfile"), "{diff}");
        assert!(diff.contains("+++ order-service/Dockerfile"), "{diff}");
        assert!(diff.contains("-EXPOSE 8003\n+EXPOSE 9999"), "{diff}");
        assert_eq!(
            drifts[1],
            Drift::Missing {
                path: "src/main.rs".into()
            }
        );

        // Rendering with other variables is drift too (wrong port in metadata).
        let wrong = TemplateVars::new("order-service", "orders", 8004);
        std::fs::write(
            service.join("Dockerfile"),
            "FROM scratch\nCOPY order-service /app\nEXPOSE 8003\n",
        )?;
        let drifts = check_service(&template, &wrong, &service, &scratch)?;
        assert!(drifts.iter().any(|d| d.path() == "Dockerfile"));
        Ok(())
    }

    #[test]
    fn missing_placeholder_defaults_are_reported() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        std::fs::write(
            tmp.path().join(CONFIG_FILE),
            "[placeholders]\nregion = { type = \"string\", prompt = \"region?\" }\n",
        )?;
        let template = Template::load(tmp.path())?;
        let err = template
            .render(
                &TemplateVars::new("a-service", "a", 8010),
                &tmp.path().join("out"),
            )
            .expect_err("region has no value");
        assert!(format!("{err:#}").contains("region"));
        Ok(())
    }

    #[test]
    fn gitignore_style_globs() -> Result<()> {
        let set = glob_set(&[
            "*.bak".into(),
            "docs/".into(),
            "/Makefile".into(),
            ".github/workflows/*".into(),
        ])?;
        assert!(set.is_match("a.bak"));
        assert!(set.is_match("deep/a.bak"));
        assert!(set.is_match("docs/x/y.md"));
        assert!(!set.is_match("docs"));
        assert!(set.is_match("Makefile"));
        assert!(!set.is_match("sub/Makefile"));
        assert!(set.is_match(".github/workflows/ci.yml"));
        assert!(!set.is_match("src/main.rs"));
        Ok(())
    }

    #[test]
    fn case_filters() {
        assert_eq!(filters::pascal("catalog-service"), "CatalogService");
        assert_eq!(filters::lower_camel("catalog-service"), "catalogService");
        assert_eq!(filters::snake("CatalogService"), "catalog_service");
        assert_eq!(filters::kebab("catalog_service"), "catalog-service");
        assert_eq!(filters::shouty_snake("catalog-service"), "CATALOG_SERVICE");
        assert_eq!(filters::shouty_kebab("catalog-service"), "CATALOG-SERVICE");
        assert_eq!(filters::title("catalog-service"), "Catalog Service");
    }
}
