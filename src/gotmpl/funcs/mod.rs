//! The functions templates can call, as one table: Go's builtins, every
//! sprig function and Helm's own (`include`, `tpl`, `and`, `or` are
//! late-bound: `exec` runs them, the table only names them). A name is
//! known exactly when it is a table entry; the table also says how many
//! arguments each takes, checked before the function runs.
//!
//! Renders feed image lists and must be repeatable, so functions that
//! read the clock, randomness, the network or the environment return
//! fixed values: `now` is 1970-01-01T00:00:00Z, `rand*` and `uuidv4` are
//! fixed strings of the right shape, certificates and keys are
//! placeholders, `bcrypt`/`htpasswd` fixed hashes, `getHostByName` empty.

mod args;

pub(super) use args::parse_go_int;
mod crypto;
mod dates;
mod dicts;
mod encoding;
mod files;
mod format;
mod lists;
mod math;
mod strings;

use thiserror::Error;

use super::parse::{Arg, Node, Pipe};
use super::{TemplateError, Value};

pub use files::glob_match;
pub(super) use files::{METHODS, method};

/// How many arguments a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Exact(usize),
    /// At least this many.
    AtLeast(usize),
    /// From the first to the second, inclusive.
    Between(usize, usize),
}

impl Arity {
    fn allows(self, count: usize) -> bool {
        match self {
            Arity::Exact(n) => count == n,
            Arity::AtLeast(n) => count >= n,
            Arity::Between(low, high) => (low..=high).contains(&count),
        }
    }
}

impl std::fmt::Display for Arity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arity::Exact(n) => write!(f, "{n}"),
            Arity::AtLeast(n) => write!(f, "at least {n}"),
            Arity::Between(low, high) => write!(f, "{low} to {high}"),
        }
    }
}

/// Why a function call failed (the function's name is in [`FuncError`]).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Problem {
    /// The call has the wrong number of arguments.
    #[error("wrong number of args: want {want} got {got}")]
    Arity {
        /// What the function takes.
        want: Arity,
        /// What it was given.
        got: usize,
    },
    /// An argument has a type the parameter does not take.
    #[error("wrong type for value; expected {expected}; got {got} (argument {index})")]
    Type {
        /// 0-based argument position.
        index: usize,
        /// Go's name of the parameter type.
        expected: &'static str,
        /// Go's name of the argument's type.
        got: &'static str,
    },
    /// An argument is missing (no value) where a value is needed.
    #[error("invalid value; expected {expected} (argument {index})")]
    Invalid {
        /// 0-based argument position.
        index: usize,
        /// Go's name of the parameter type.
        expected: &'static str,
    },
    /// An argument's value is refused.
    #[error("{message} (argument {index}: {argument})")]
    Bad {
        /// 0-based argument position.
        index: usize,
        /// The argument as printed.
        argument: String,
        /// What is wrong with it.
        message: String,
    },
    /// The template asked to fail (`fail`, `required`): its own words.
    #[error("{0}")]
    Failed(String),
    /// Run by the executor, never through the table.
    #[error("late-bound function called out of place")]
    LateBound,
}

impl Problem {
    /// A refused argument.
    pub(super) fn bad(index: usize, argument: &Value, message: impl Into<String>) -> Problem {
        let mut argument = argument.print();
        if argument.len() > 80 {
            let cut = (0..=80)
                .rev()
                .find(|i| argument.is_char_boundary(*i))
                .unwrap_or(0);
            argument.truncate(cut);
            argument.push_str("...");
        }
        Problem::Bad {
            index,
            argument,
            message: message.into(),
        }
    }
}

/// A function call that failed: which function, and why.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("error calling {function}: {problem}")]
pub struct FuncError {
    /// The function's name.
    pub function: String,
    /// What went wrong, with the argument where one is to blame.
    pub problem: Problem,
}

/// What a table function returns.
pub(super) type Outcome = Result<Value, Problem>;

/// One function: its name, how many arguments it takes, and its body.
#[derive(Clone, Copy)]
pub struct Func {
    /// The name templates call it by.
    pub name: &'static str,
    /// How many arguments it takes.
    pub arity: Arity,
    run: fn(&[Value]) -> Outcome,
}

const fn f(name: &'static str, arity: Arity, run: fn(&[Value]) -> Outcome) -> Func {
    Func { name, arity, run }
}

fn late_bound(_: &[Value]) -> Outcome {
    Err(Problem::LateBound)
}

use Arity::{AtLeast, Between, Exact};

/// Every function a template may call, sorted by name.
pub static TABLE: &[Func] = &[
    f("abbrev", Exact(2), strings::abbrev),
    f("abbrevboth", Exact(3), strings::abbrevboth),
    f("add", AtLeast(0), math::add),
    f("add1", Exact(1), math::add1),
    f("add1f", Exact(1), math::add1f),
    f("addf", AtLeast(0), math::addf),
    f("adler32sum", Exact(1), crypto::adler32sum),
    f("ago", Exact(1), dates::ago),
    f("all", AtLeast(0), lists::all),
    f("and", AtLeast(1), late_bound),
    f("any", AtLeast(0), lists::any),
    f("append", Exact(2), lists::push),
    f("atoi", Exact(1), math::atoi),
    f("b32dec", Exact(1), encoding::b32dec),
    f("b32enc", Exact(1), encoding::b32enc),
    f("b64dec", Exact(1), encoding::b64dec),
    f("b64enc", Exact(1), encoding::b64enc),
    f("base", Exact(1), strings::base),
    f("bcrypt", Exact(1), crypto::bcrypt),
    f("biggest", AtLeast(1), math::max),
    f("buildCustomCert", Exact(2), crypto::custom_cert),
    f("call", AtLeast(1), format::call),
    f("camelcase", Exact(1), strings::camelcase),
    f("cat", AtLeast(0), strings::cat),
    f("ceil", Exact(1), math::ceil),
    f("chunk", Exact(2), lists::chunk),
    f("clean", Exact(1), strings::clean),
    f("coalesce", AtLeast(0), dicts::coalesce),
    f("compact", Exact(1), lists::compact),
    f("concat", AtLeast(0), lists::concat),
    f("contains", Exact(2), strings::contains),
    f("date", Exact(2), dates::date),
    f("dateInZone", Exact(3), dates::date_in_zone),
    f("dateModify", Exact(2), dates::date_modify),
    f("date_in_zone", Exact(3), dates::date_in_zone),
    f("date_modify", Exact(2), dates::date_modify),
    f("decryptAES", Exact(2), crypto::decrypt_aes),
    f("deepCopy", Exact(1), dicts::deep_copy),
    f("deepEqual", Exact(2), dicts::deep_equal),
    f("default", Between(1, 2), dicts::default),
    f("derivePassword", Exact(5), crypto::derive_password),
    f("dict", AtLeast(0), dicts::dict_of),
    f("dig", AtLeast(3), dicts::dig),
    f("dir", Exact(1), strings::dir),
    f("div", Exact(2), math::div),
    f("divf", AtLeast(1), math::divf),
    f("duration", Exact(1), dates::duration),
    f("durationRound", Exact(1), dates::duration_round),
    f("empty", Exact(1), dicts::empty),
    f("encryptAES", Exact(2), crypto::encrypt_aes),
    f("eq", AtLeast(1), format::eq),
    f("ext", Exact(1), strings::ext),
    f("fail", Exact(1), format::fail),
    f("first", Exact(1), lists::first),
    f("float64", Exact(1), math::float64),
    f("floor", Exact(1), math::floor),
    f("fromJson", Exact(1), encoding::from_json),
    f("fromJsonArray", Exact(1), encoding::from_json_array),
    f("fromToml", Exact(1), encoding::from_toml),
    f("fromYaml", Exact(1), encoding::from_yaml),
    f("fromYamlArray", Exact(1), encoding::from_yaml_array),
    f("ge", Exact(2), format::ge),
    f("genCA", Exact(2), crypto::cert),
    f("genCAWithKey", Exact(3), crypto::cert),
    f("genPrivateKey", Exact(1), crypto::private_key),
    f("genSelfSignedCert", Exact(4), crypto::cert),
    f("genSelfSignedCertWithKey", Exact(5), crypto::cert),
    f("genSignedCert", Exact(5), crypto::cert),
    f("genSignedCertWithKey", Exact(6), crypto::cert),
    f("get", Exact(2), dicts::get),
    f("getHostByName", Exact(1), crypto::host_by_name),
    f("gt", Exact(2), format::gt),
    f("has", Exact(2), lists::has),
    f("hasKey", Exact(2), dicts::has_key),
    f("hasPrefix", Exact(2), strings::has_prefix),
    f("hasSuffix", Exact(2), strings::has_suffix),
    f("hello", Exact(0), strings::hello),
    f("html", AtLeast(0), format::html),
    f("htmlDate", Exact(1), dates::html_date),
    f("htmlDateInZone", Exact(2), dates::html_date_in_zone),
    f("htpasswd", Exact(2), crypto::htpasswd),
    f("include", Exact(2), late_bound),
    f("indent", Exact(2), strings::indent),
    f("index", AtLeast(1), lists::index),
    f("initial", Exact(1), lists::initial),
    f("initials", Exact(1), strings::initials),
    f("int", Exact(1), math::int),
    f("int64", Exact(1), math::int),
    f("isAbs", Exact(1), strings::is_abs),
    f("join", Exact(2), strings::join),
    f("js", AtLeast(0), format::js),
    f("kebabcase", Exact(1), strings::kebabcase),
    f("keys", AtLeast(0), dicts::keys),
    f("kindIs", Exact(2), dicts::kind_is),
    f("kindOf", Exact(1), dicts::kind_of),
    f("last", Exact(1), lists::last),
    f("le", Exact(2), format::le),
    f("len", Exact(1), lists::len),
    f("list", AtLeast(0), lists::list_of),
    f("lookup", Exact(4), dicts::lookup),
    f("lower", Exact(1), strings::lower),
    f("lt", Exact(2), format::lt),
    f("max", AtLeast(1), math::max),
    f("maxf", AtLeast(1), math::maxf),
    f("merge", AtLeast(1), dicts::merge),
    f("mergeOverwrite", AtLeast(1), dicts::merge_overwrite),
    f("min", AtLeast(1), math::min),
    f("minf", AtLeast(1), math::minf),
    f("mod", Exact(2), math::modulo),
    f("mul", AtLeast(1), math::mul),
    f("mulf", AtLeast(1), math::mulf),
    f("mustAppend", Exact(2), lists::push),
    f("mustChunk", Exact(2), lists::chunk),
    f("mustCompact", Exact(1), lists::compact),
    f("mustDateModify", Exact(2), dates::date_modify),
    f("mustDeepCopy", Exact(1), dicts::deep_copy),
    f("mustFirst", Exact(1), lists::first),
    f("mustFromJson", Exact(1), encoding::must_from_json),
    f("mustHas", Exact(2), lists::has),
    f("mustInitial", Exact(1), lists::initial),
    f("mustLast", Exact(1), lists::last),
    f("mustMerge", AtLeast(1), dicts::merge),
    f("mustMergeOverwrite", AtLeast(1), dicts::merge_overwrite),
    f("mustPrepend", Exact(2), lists::prepend),
    f("mustPush", Exact(2), lists::push),
    f("mustRegexFind", Exact(2), strings::regex_find),
    f("mustRegexFindAll", Exact(3), strings::regex_find_all),
    f("mustRegexMatch", Exact(2), strings::regex_match),
    f("mustRegexReplaceAll", Exact(3), strings::regex_replace_all),
    f(
        "mustRegexReplaceAllLiteral",
        Exact(3),
        strings::regex_replace_all_literal,
    ),
    f("mustRegexSplit", Exact(3), strings::regex_split),
    f("mustRest", Exact(1), lists::rest),
    f("mustReverse", Exact(1), lists::reverse),
    f("mustSlice", AtLeast(1), lists::slice),
    f("mustToDate", Exact(2), dates::to_date),
    f("mustToJson", Exact(1), encoding::to_json),
    f("mustToPrettyJson", Exact(1), encoding::to_pretty_json),
    f("mustToRawJson", Exact(1), encoding::to_raw_json),
    f("mustToYaml", Exact(1), encoding::to_yaml),
    f("mustUniq", Exact(1), lists::uniq),
    f("mustWithout", AtLeast(1), lists::without),
    f("must_date_modify", Exact(2), dates::date_modify),
    f("ne", Exact(2), format::ne),
    f("nindent", Exact(2), strings::nindent),
    f("nospace", Exact(1), strings::nospace),
    f("not", Exact(1), format::not),
    f("now", Exact(0), dates::now),
    f("omit", AtLeast(1), dicts::omit),
    f("or", AtLeast(1), late_bound),
    f("osBase", Exact(1), strings::base),
    f("osClean", Exact(1), strings::clean),
    f("osDir", Exact(1), strings::dir),
    f("osExt", Exact(1), strings::ext),
    f("osIsAbs", Exact(1), strings::is_abs),
    f("pick", AtLeast(1), dicts::pick),
    f("pluck", AtLeast(1), dicts::pluck),
    f("plural", Exact(3), strings::plural),
    f("prepend", Exact(2), lists::prepend),
    f("print", AtLeast(0), format::print),
    f("printf", AtLeast(1), format::printf),
    f("println", AtLeast(0), format::println),
    f("push", Exact(2), lists::push),
    f("quote", AtLeast(0), strings::quote),
    f("randAlpha", Exact(1), crypto::rand_alpha),
    f("randAlphaNum", Exact(1), crypto::rand_alpha),
    f("randAscii", Exact(1), crypto::rand_alpha),
    f("randBytes", Exact(1), crypto::rand_bytes),
    f("randInt", Exact(2), crypto::rand_int),
    f("randNumeric", Exact(1), crypto::rand_numeric),
    f("regexFind", Exact(2), strings::regex_find),
    f("regexFindAll", Exact(3), strings::regex_find_all),
    f("regexMatch", Exact(2), strings::regex_match),
    f("regexQuoteMeta", Exact(1), strings::regex_quote_meta),
    f("regexReplaceAll", Exact(3), strings::regex_replace_all),
    f(
        "regexReplaceAllLiteral",
        Exact(3),
        strings::regex_replace_all_literal,
    ),
    f("regexSplit", Exact(3), strings::regex_split),
    f("repeat", Exact(2), strings::repeat),
    f("replace", Exact(3), strings::replace),
    f("required", Exact(2), format::required),
    f("rest", Exact(1), lists::rest),
    f("reverse", Exact(1), lists::reverse),
    f("round", Between(2, 3), math::round),
    f("semver", Exact(1), format::semver),
    f("semverCompare", Exact(2), format::semver_compare),
    f("seq", AtLeast(0), math::seq),
    f("set", Exact(3), dicts::set),
    f("sha1sum", Exact(1), crypto::sha1sum),
    f("sha256sum", Exact(1), crypto::sha256sum),
    f("shuffle", Exact(1), strings::shuffle),
    f("slice", AtLeast(1), lists::slice),
    f("snakecase", Exact(1), strings::snakecase),
    f("sortAlpha", Exact(1), lists::sort_alpha),
    f("split", Exact(2), strings::split),
    f("splitList", Exact(2), strings::split_list),
    f("splitn", Exact(3), strings::splitn),
    f("squote", AtLeast(0), strings::squote),
    f("sub", Exact(2), math::sub),
    f("subf", AtLeast(1), math::subf),
    f("substr", Exact(3), strings::substr),
    f("swapcase", Exact(1), strings::swapcase),
    f("ternary", Exact(3), dicts::ternary),
    f("title", Exact(1), strings::title),
    f("toDate", Exact(2), dates::to_date),
    f("toDecimal", Exact(1), math::to_decimal),
    f("toJson", Exact(1), encoding::to_json),
    f("toPrettyJson", Exact(1), encoding::to_pretty_json),
    f("toRawJson", Exact(1), encoding::to_raw_json),
    f("toString", Exact(1), strings::to_string),
    f("toStrings", Exact(1), lists::to_strings),
    f("toToml", Exact(1), encoding::to_toml),
    f("toYaml", Exact(1), encoding::to_yaml),
    f("toYamlPretty", Exact(1), encoding::to_yaml_pretty),
    f("tpl", Exact(2), late_bound),
    f("trim", Exact(1), strings::trim),
    f("trimAll", Exact(2), strings::trim_all),
    f("trimPrefix", Exact(2), strings::trim_prefix),
    f("trimSuffix", Exact(2), strings::trim_suffix),
    f("trimall", Exact(2), strings::trim_all),
    f("trunc", Exact(2), strings::trunc),
    f("tuple", AtLeast(0), lists::list_of),
    f("typeIs", Exact(2), dicts::type_is),
    f("typeIsLike", Exact(2), dicts::type_is_like),
    f("typeOf", Exact(1), dicts::type_of),
    f("uniq", Exact(1), lists::uniq),
    f("unixEpoch", Exact(1), dates::unix_epoch),
    f("unset", Exact(2), dicts::unset),
    f("until", Exact(1), math::until),
    f("untilStep", Exact(3), math::until_step),
    f("untitle", Exact(1), strings::untitle),
    f("upper", Exact(1), strings::upper),
    f("urlJoin", Exact(1), strings::url_join),
    f("urlParse", Exact(1), strings::url_parse),
    f("urlquery", AtLeast(0), format::urlquery),
    f("uuidv4", Exact(0), crypto::uuidv4),
    f("values", Exact(1), dicts::values),
    f("without", AtLeast(1), lists::without),
    f("wrap", Exact(2), strings::wrap),
    f("wrapWith", Exact(3), strings::wrap_with),
];

/// The table entry of `name`, if there is one.
pub fn lookup(name: &str) -> Option<&'static Func> {
    TABLE
        .binary_search_by(|func| func.name.cmp(name))
        .ok()
        .map(|i| &TABLE[i])
}

/// Calls function `name` with evaluated arguments, checking its arity.
pub(super) fn call(name: &str, args: &[Value]) -> Result<Value, FuncError> {
    let failed = |problem| FuncError {
        function: name.to_string(),
        problem,
    };
    let Some(func) = lookup(name) else {
        return Err(failed(Problem::Failed(format!("function {name:?} not defined"))));
    };
    if !func.arity.allows(args.len()) {
        return Err(failed(Problem::Arity {
            want: func.arity,
            got: args.len(),
        }));
    }
    (func.run)(args).map_err(failed)
}

/// Refuses calls of unknown functions before anything runs (as Go does
/// when it parses).
pub(super) fn check_names(template: &str, nodes: &[Node]) -> Result<(), TemplateError> {
    fn check_pipe(template: &str, pipe: &Pipe) -> Result<(), TemplateError> {
        for cmd in &pipe.cmds {
            for arg in &cmd.args {
                match arg {
                    Arg::Ident(name) if lookup(name).is_none() => {
                        return Err(TemplateError {
                            name: template.to_string(),
                            line: cmd.pos.line,
                            col: cmd.pos.col,
                            message: format!("function {name:?} not defined"),
                        });
                    }
                    Arg::Sub(inner, _) => check_pipe(template, inner)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
    for node in nodes {
        match node {
            Node::Action(p) => check_pipe(template, p)?,
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                check_pipe(template, &b.pipe)?;
                check_names(template, &b.body)?;
                check_names(template, &b.otherwise)?;
            }
            Node::Template { pipe: Some(p), .. } => check_pipe(template, p)?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
