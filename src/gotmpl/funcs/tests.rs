use super::*;

/// sprig's `genericMap` (Masterminds/sprig v3 functions.go), less the
/// `env` and `expandenv` Helm deletes.
const SPRIG: &[&str] = &[
    "hello",
    "ago",
    "date",
    "date_in_zone",
    "date_modify",
    "dateInZone",
    "dateModify",
    "duration",
    "durationRound",
    "htmlDate",
    "htmlDateInZone",
    "must_date_modify",
    "mustDateModify",
    "mustToDate",
    "now",
    "toDate",
    "unixEpoch",
    "abbrev",
    "abbrevboth",
    "trunc",
    "trim",
    "upper",
    "lower",
    "title",
    "untitle",
    "substr",
    "repeat",
    "trimall",
    "trimAll",
    "trimSuffix",
    "trimPrefix",
    "nospace",
    "initials",
    "randAlphaNum",
    "randAlpha",
    "randAscii",
    "randNumeric",
    "swapcase",
    "shuffle",
    "snakecase",
    "camelcase",
    "kebabcase",
    "wrap",
    "wrapWith",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "replace",
    "plural",
    "sha1sum",
    "sha256sum",
    "adler32sum",
    "toString",
    "atoi",
    "int64",
    "int",
    "float64",
    "seq",
    "toDecimal",
    "split",
    "splitList",
    "splitn",
    "toStrings",
    "until",
    "untilStep",
    "add1",
    "add",
    "sub",
    "div",
    "mod",
    "mul",
    "randInt",
    "add1f",
    "addf",
    "subf",
    "divf",
    "mulf",
    "biggest",
    "max",
    "min",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "join",
    "sortAlpha",
    "default",
    "empty",
    "coalesce",
    "all",
    "any",
    "compact",
    "mustCompact",
    "fromJson",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "mustFromJson",
    "mustToJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "ternary",
    "deepCopy",
    "mustDeepCopy",
    "typeOf",
    "typeIs",
    "typeIsLike",
    "kindOf",
    "kindIs",
    "deepEqual",
    "getHostByName",
    "base",
    "dir",
    "clean",
    "ext",
    "isAbs",
    "osBase",
    "osClean",
    "osDir",
    "osExt",
    "osIsAbs",
    "b64enc",
    "b64dec",
    "b32enc",
    "b32dec",
    "tuple",
    "list",
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "pluck",
    "keys",
    "pick",
    "omit",
    "merge",
    "mergeOverwrite",
    "mustMerge",
    "mustMergeOverwrite",
    "values",
    "append",
    "push",
    "mustAppend",
    "mustPush",
    "prepend",
    "mustPrepend",
    "first",
    "mustFirst",
    "rest",
    "mustRest",
    "last",
    "mustLast",
    "initial",
    "mustInitial",
    "reverse",
    "mustReverse",
    "uniq",
    "mustUniq",
    "without",
    "mustWithout",
    "has",
    "mustHas",
    "slice",
    "mustSlice",
    "concat",
    "dig",
    "chunk",
    "mustChunk",
    "bcrypt",
    "htpasswd",
    "genPrivateKey",
    "derivePassword",
    "buildCustomCert",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "encryptAES",
    "decryptAES",
    "randBytes",
    "uuidv4",
    "semver",
    "semverCompare",
    "fail",
    "regexMatch",
    "mustRegexMatch",
    "regexFindAll",
    "mustRegexFindAll",
    "regexFind",
    "mustRegexFind",
    "regexReplaceAll",
    "mustRegexReplaceAll",
    "regexReplaceAllLiteral",
    "mustRegexReplaceAllLiteral",
    "regexSplit",
    "mustRegexSplit",
    "regexQuoteMeta",
    "urlParse",
    "urlJoin",
];

/// Helm's own (pkg/engine/funcs.go) and Go's text/template builtins.
const HELM_AND_GO: &[&str] = &[
    "toToml",
    "fromToml",
    "toYaml",
    "toYamlPretty",
    "mustToYaml",
    "fromYaml",
    "fromYamlArray",
    "toJson",
    "mustToJson",
    "fromJson",
    "fromJsonArray",
    "include",
    "tpl",
    "required",
    "lookup",
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    "call",
];

#[test]
fn the_table_is_sorted_and_every_name_resolves() {
    for pair in TABLE.windows(2) {
        assert!(
            pair[0].name < pair[1].name,
            "{} before {}",
            pair[0].name,
            pair[1].name
        );
    }
    for func in TABLE {
        assert_eq!(lookup(func.name).map(|f| f.name), Some(func.name));
    }
    assert!(lookup("bogus").is_none());
    assert!(
        lookup("mustToString").is_none(),
        "must* exists only where sprig defines it"
    );
}

#[test]
fn every_sprig_helm_and_go_function_is_in_the_table() {
    let missing: Vec<&str> = SPRIG
        .iter()
        .chain(HELM_AND_GO)
        .copied()
        .filter(|name| lookup(name).is_none())
        .collect();
    assert!(missing.is_empty(), "missing: {missing:?}");
    assert!(
        lookup("env").is_none() && lookup("expandenv").is_none(),
        "Helm removes env"
    );
}

#[test]
fn arity_is_checked_before_the_function_runs() {
    let error = call("upper", &[]).unwrap_err();
    assert_eq!(error.function, "upper");
    assert_eq!(
        error.problem,
        Problem::Arity {
            want: Arity::Exact(1),
            got: 0
        }
    );
    let error = call("upper", &[Value::Int(3)]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "error calling upper: wrong type for value; expected string; got int (argument 0)"
    );
}

fn run(name: &str, args: &[Value]) -> String {
    call(name, args).unwrap_or_else(|e| panic!("{e}")).print()
}

fn s(text: &str) -> Value {
    Value::from(text)
}

#[test]
fn functions_behave_as_sprig_and_go() {
    assert_eq!(run("int", &[s("3.7")]), "0");
    assert_eq!(run("int", &[s("0755")]), "493");
    assert_eq!(run("int", &[s("3.0")]), "3");
    assert_eq!(run("addf", &[Value::Float(1.1), Value::Float(2.2)]), "3.3");
    assert_eq!(run("mulf", &[Value::Float(1.1), Value::Int(3)]), "3.3");
    assert_eq!(run("round", &[Value::Float(1.23456), Value::Int(2)]), "1.23");
    assert_eq!(run("seq", &[Value::Int(3)]), "1 2 3");
    assert_eq!(
        run("seq", &[Value::Int(5), Value::Int(-2), Value::Int(1)]),
        "5 3 1"
    );
    assert_eq!(
        run("splitn", &[s("/"), Value::Int(2), s("a/b/c")]),
        "map[_0:a _1:b/c]"
    );
    assert_eq!(
        run(
            "chunk",
            &[Value::Int(2), Value::List(vec![s("a"), s("b"), s("c")])]
        ),
        "[[a b] [c]]"
    );
    assert_eq!(run("initials", &[s("John Doe")]), "JD");
    assert_eq!(run("clean", &[s("a//b/../c/.")]), "a/c");
    assert_eq!(run("regexQuoteMeta", &[s("1.2+")]), r"1\.2\+");
    assert_eq!(run("quote", &[s("a\u{1}é\"")]), r#""a\x01é\"""#);
    assert_eq!(run("toJson", &[s("<&>")]), r#""\u003c\u0026\u003e""#);
    assert_eq!(run("toJson", &[Value::Float(3.0)]), "3");
    assert_eq!(run("snakecase", &[s("HTTPServerName")]), "http_server_name");
    assert_eq!(run("typeIsLike", &[s("int"), Value::Int(1)]), "true");
    assert_eq!(run("all", &[Value::Int(1), s("")]), "false");
    assert_eq!(run("any", &[Value::Int(0), s("x")]), "true");
    assert_eq!(
        run("date", &[s("2006-01-02"), Value::Int(86_400 * 365)]),
        "1971-01-01"
    );
    assert_eq!(run("b32enc", &[s("hi")]), "NBUQ====");
    assert_eq!(run("b32dec", &[s("NBUQ====")]), "hi");
    let url = call("urlParse", &[s("https://u@example.com:8443/p?q=1#f")]).unwrap();
    assert_eq!(
        url.print(),
        "map[fragment:f host:example.com:8443 hostname:example.com opaque: path:/p query:q=1 scheme:https userinfo:u]"
    );
    assert_eq!(run("urlJoin", &[url]), "https://u@example.com:8443/p?q=1#f");
    assert_eq!(
        run(
            "toToml",
            &[Value::map(
                [
                    ("a".to_string(), Value::Int(1)),
                    ("t".to_string(), Value::map([("b".to_string(), s("x"))].into()))
                ]
                .into()
            )]
        ),
        "a = 1\n\n[t]\n  b = \"x\"\n"
    );
    assert!(
        call("hasKey", &[Value::Nil, s("x")])
            .unwrap_err()
            .to_string()
            .contains("expected map")
    );
}

#[test]
fn set_and_merge_change_the_map_for_every_holder() {
    let shared = Value::empty_map();
    let other = Value::map(
        [(
            "a".to_string(),
            Value::map([("b".to_string(), Value::Int(1))].into()),
        )]
        .into(),
    );
    call("set", &[shared.clone(), s("k"), Value::Int(1)]).unwrap();
    call("mergeOverwrite", &[shared.clone(), other]).unwrap();
    assert_eq!(shared.print(), "map[a:map[b:1] k:1]");
    // A map merged into itself stays as it is.
    call("merge", &[shared.clone(), shared.clone()]).unwrap();
    assert_eq!(shared.print(), "map[a:map[b:1] k:1]");
}
