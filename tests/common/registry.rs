//! A real OCI registry for tests: Debian's `docker-registry` (distribution)
//! on 127.0.0.1 with an ephemeral port and temp storage, stopped on drop.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Registry {
    /// Starts a registry with delete enabled and, if given, htpasswd auth.
    pub fn start(htpasswd: Option<&Path>) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        Self::start_on(dir, &data, htpasswd)
    }

    /// Serves an existing storage tree (a `registry/` folder of an image).
    pub fn serve_dir(tree: &Path) -> Registry {
        Self::start_on(tempfile::tempdir().expect("temp dir"), tree, None)
    }

    fn start_on(dir: tempfile::TempDir, data: &Path, htpasswd: Option<&Path>) -> Registry {
        // Ask the kernel for a free port, then hand it to the registry.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let auth = htpasswd.map_or(String::new(), |path| {
            format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                path.display()
            )
        });
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
            data.display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is installed (.ci/test.sh installs it)");
        let registry = Registry { port, dir, child };
        registry.wait_ready();
        registry
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits until the registry accepts connections (bounded).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("docker-registry did not start on port {}", self.port);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
