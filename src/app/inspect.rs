//! The image config a Kubefile alone gives (`matrix app inspect` when
//! `init.sh` is skipped or COPY sources do not exist yet): `ENV`, `ARG`,
//! `LABEL`, `MAINTAINER`, `CMD` and `ENTRYPOINT` read from the folder,
//! no file copied, nothing run. A `FROM` image's config is not merged in.

use super::{AppBuild, AppError};
use crate::kubefile::{CommandForm, Instruction, merged_cmd};
use crate::oci::ImageConfig;

/// What the Kubefile alone says about the image.
#[derive(Debug, Clone)]
pub struct KubefileConfig {
    /// The config its instructions set.
    pub config: ImageConfig,
    /// Its `FROM` image, unless scratch (not merged in).
    pub base: Option<String>,
}

/// Reads the folder's Kubefile (or Dockerfile) without running anything.
pub fn kubefile_config(build: &AppBuild) -> Result<KubefileConfig, AppError> {
    let Some((file_name, path)) = super::build_file(&build.folder) else {
        return Err(AppError::Bad {
            file: build.folder.display().to_string(),
            message: "no Kubefile or Dockerfile; a symbolic link is not followed".into(),
        });
    };
    let label = format!("{}/{file_name}", build.folder.display());
    let text = std::fs::read_to_string(&path).map_err(|e| AppError::io(format!("reading {label}"), e))?;
    let kubefile = crate::kubefile::parse(&label, &text, &build.build_args)?;
    let mut config = ImageConfig::default();
    let mut base = None;
    let mut cmds: Vec<&CommandForm> = Vec::new();
    for (_, instruction) in &kubefile.instructions {
        match instruction {
            Instruction::From(image) => base = (image != "scratch").then(|| image.clone()),
            Instruction::Env(pairs) => config.env.extend(pairs.iter().cloned()),
            Instruction::Label(pairs) => config.labels.extend(pairs.iter().cloned()),
            Instruction::Maintainer(who) => config.author = Some(who.clone()),
            Instruction::Cmd(form) => cmds.push(form),
            Instruction::Entrypoint(CommandForm::Exec(items)) => config.entrypoint = items.clone(),
            Instruction::Entrypoint(CommandForm::Shell(text)) => {
                config.entrypoint = vec!["/bin/sh".into(), "-c".into(), text.clone()];
            }
            Instruction::Arg(..) | Instruction::Copy { .. } | Instruction::Run(_) => {}
        }
    }
    config.cmd = merged_cmd(&cmds);
    Ok(KubefileConfig { config, base })
}
