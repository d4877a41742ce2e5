//! Every library error decides its own exit code through `error::Fault`,
//! and the codes are the README's: 2 for bad input (arguments,
//! matrix.toml, matrix.lock, templates, contexts, tags, application
//! folders), 1 for failures (downloads, registries, disks, scripts).
//! Wrapping errors take the code of what they wrap.

use std::path::PathBuf;

use matrix::context::ContextError;
use matrix::error::{EXIT_BAD_INPUT, EXIT_FAILURE, Fault};
use matrix::fetch::FetchError;
use matrix::oci::StoreError;
use matrix::pipeline::{
    AppBuildError, AssembleError, BuildError, CellError, PrepareError, RenderStepError, SelectError,
    WriteError,
};
use matrix::plan::NeedsError;
use matrix::plan::SelectionError;
use matrix::registry::RegistryError;

fn io() -> std::io::Error {
    std::io::Error::other("disk on fire")
}

fn parse_error<T: std::str::FromStr>(text: &str) -> T::Err {
    match text.parse::<T>() {
        Ok(_) => panic!("`{text}` parsed"),
        Err(error) => error,
    }
}

fn not_a_layout() -> StoreError {
    StoreError::NotALayout {
        path: PathBuf::from("photos"),
        reason: "no index.json".into(),
    }
}

fn missing_context() -> ContextError {
    ContextError::MissingDir {
        name: "runtime/containerd".into(),
        path: PathBuf::from("runtime/containerd"),
    }
}

#[test]
fn values_that_do_not_parse_are_bad_input() {
    let errors: Vec<(&str, Box<dyn Fault>)> = vec![
        ("tag", Box::new(parse_error::<matrix::Tag>("not a tag"))),
        ("selector", Box::new(parse_error::<matrix::TagSelector>(""))),
        ("arch", Box::new(parse_error::<matrix::Arch>("sparc"))),
        ("cri", Box::new(parse_error::<matrix::Cri>("rkt"))),
        ("version", Box::new(parse_error::<matrix::KubeVersion>("one"))),
        ("shard", Box::new(parse_error::<matrix::plan::Shard>("5/4"))),
        (
            "mirror",
            Box::new(parse_error::<matrix::fetch::MirrorRule>("nowhere")),
        ),
        (
            "digest",
            Box::new(parse_error::<matrix::digest::Sha256>("sha256:zz")),
        ),
        (
            "reference",
            Box::new(parse_error::<matrix::registry::ImageRef>("UPPER//x")),
        ),
        ("selection", Box::new(SelectionError::Empty)),
        (
            "chatops",
            Box::new(matrix::chatops::parse("hello", None).unwrap_err()),
        ),
        ("auth file", Box::new(matrix::registry::AuthFileError::Variable)),
    ];
    for (what, error) in errors {
        assert_eq!(error.exit_code(), EXIT_BAD_INPUT, "{what}: {error}");
    }
}

#[test]
fn input_files_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("matrix.toml");
    std::fs::write(&toml, "this is = = not toml").unwrap();
    let error = matrix::Matrix::load(&toml).unwrap_err();
    assert_eq!(error.exit_code(), EXIT_BAD_INPUT, "{error}");
    let missing = matrix::Matrix::load(&dir.path().join("none.toml")).unwrap_err();
    assert_eq!(missing.exit_code(), EXIT_BAD_INPUT, "{missing}");
    let kubefile = matrix::kubefile::parse("Kubefile", "ADD x y\n", &Default::default()).unwrap_err();
    assert_eq!(kubefile.exit_code(), EXIT_BAD_INPUT, "{kubefile}");
}

#[test]
fn machine_and_network_trouble_is_a_failure() {
    let errors: Vec<(&str, Box<dyn Fault>)> = vec![
        ("io", Box::new(io())),
        (
            "registry",
            Box::new(RegistryError::Http {
                method: "GET".into(),
                url: "https://r.example/v2/".into(),
                status: 500,
                message: String::new(),
            }),
        ),
        (
            "store read",
            Box::new(StoreError::Io {
                what: "reading index.json".into(),
                source: io(),
            }),
        ),
        (
            "context write",
            Box::new(ContextError::Write {
                path: PathBuf::from("out"),
                source: io(),
            }),
        ),
        (
            "build cache",
            Box::new(BuildError::Cache {
                path: PathBuf::from("cache"),
                source: io(),
            }),
        ),
        (
            "not fetched",
            Box::new(AssembleError::NotFetched {
                artifact: "kubelet".into(),
                reason: None,
            }),
        ),
        (
            "render binaries",
            Box::new(RenderStepError::Binaries {
                source: FetchError::Transfer {
                    component: "kubelet".into(),
                    url: "https://dl.k8s.io/kubelet".into(),
                    reason: "timeout".into(),
                },
            }),
        ),
        (
            "init.sh",
            Box::new(matrix::app::AppError::Init {
                app: "web 1.0".into(),
                arch: matrix::Arch::Amd64,
                status: "failed with exit code 3".into(),
                last: String::new(),
            }),
        ),
    ];
    for (what, error) in errors {
        assert_eq!(error.exit_code(), EXIT_FAILURE, "{what}: {error}");
    }
}

#[test]
fn wrappers_take_the_code_of_what_they_wrap() {
    // A layout the user named is bad input wherever it surfaces.
    assert_eq!(not_a_layout().exit_code(), EXIT_BAD_INPUT);
    assert_eq!(BuildError::Store(not_a_layout()).exit_code(), EXIT_BAD_INPUT);
    assert_eq!(AppBuildError::Store(not_a_layout()).exit_code(), EXIT_BAD_INPUT);
    assert_eq!(
        CellError::Write(WriteError::Store(not_a_layout())).exit_code(),
        EXIT_BAD_INPUT
    );
    // A wrong context is bad input; one that cannot be written is not.
    let context = missing_context();
    assert_eq!(context.exit_code(), EXIT_BAD_INPUT);
    assert_eq!(
        RenderStepError::Context(missing_context()).exit_code(),
        EXIT_BAD_INPUT
    );
    assert_eq!(FetchError::Context(missing_context()).exit_code(), EXIT_BAD_INPUT);
    assert_eq!(
        CellError::Context(ContextError::Read {
            path: PathBuf::from("x"),
            source: io(),
        })
        .exit_code(),
        EXIT_FAILURE
    );
    // Asking render for what only a build can do is bad input.
    let needs = RenderStepError::NeedsBinaries {
        cell: "k3s".into(),
        component: "k3s-images".into(),
    };
    assert_eq!(needs.exit_code(), EXIT_BAD_INPUT);
    // A bad app folder through the app build is bad input.
    let app = matrix::app::AppError::NotAFolder {
        path: PathBuf::from("applications/x/1.0"),
    };
    assert_eq!(AppBuildError::from(app).exit_code(), EXIT_BAD_INPUT);
    // A RUN that --no-run refuses is bad input; one that fails is not.
    let refused = matrix::app::AppError::RunRefused {
        file: "Kubefile".into(),
        line: 4,
    };
    assert_eq!(refused.exit_code(), EXIT_BAD_INPUT);
    let failed = matrix::app::AppError::Run {
        file: "Kubefile".into(),
        line: 4,
        status: "failed with exit code 1".into(),
        last: String::new(),
    };
    assert_eq!(failed.exit_code(), EXIT_FAILURE);
    // A selection's own error is bad input; a registry it lists is not.
    assert_eq!(
        SelectError::Selection(SelectionError::Filtered).exit_code(),
        EXIT_BAD_INPUT
    );
    let listing = SelectError::Registry {
        target: "127.0.0.1:5000/labring".into(),
        source: RegistryError::Http {
            method: "GET".into(),
            url: "http://127.0.0.1:5000/v2/".into(),
            status: 503,
            message: String::new(),
        },
    };
    assert_eq!(listing.exit_code(), EXIT_FAILURE);
    // A component without a version rule is matrix.toml's to fix.
    let no_version = NeedsError::NoVersion {
        component: "kubelet".into(),
        cell: "containerd 1.24.4 4.2.1 amd64".into(),
    };
    assert_eq!(no_version.exit_code(), EXIT_BAD_INPUT);
    assert_eq!(
        BuildError::Prepare(PrepareError::Needs(no_version)).exit_code(),
        EXIT_BAD_INPUT
    );
}
