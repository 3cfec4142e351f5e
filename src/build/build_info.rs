//! EXASLCT's `/build_info` files, for flavors that set `build-info #true`: each image
//! carries `/build_info/image_info/<flavor>-<step>` (what it was built from, as JSON) and
//! `/build_info/dockerfiles/<flavor>-<step>` (its rendered Dockerfile), which tooling
//! around script-language containers reads. Images inherit their parents' files, so the
//! release image holds those of every step below it.
//!
//! The files go into the build context under `.kiln/build_info/` and one `COPY` puts them
//! in place (one layer). They are hashed like context files, so turning the setting on
//! or off, or anything the files say, changes the step's hash.

use serde::Serialize;

use super::dockerfile::{self, RenderError};
use crate::hash::{ContextFile, sha256};

/// Where the files go inside the build context.
const CONTEXT_DIR: &str = ".kiln/build_info";

/// The instruction appended to the rendered Dockerfile.
pub const INSTRUCTION: &str = "COPY .kiln/build_info/ /build_info/\n";

/// The generated files of one step: (path inside the context, content).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    pub files: Vec<(String, Vec<u8>)>,
}

/// What `/build_info/image_info/<flavor>-<step>` says.
#[derive(Serialize)]
struct ImageInfo<'a> {
    flavor: &'a str,
    step: &'a str,
    description: Option<&'a str>,
    /// Image name of each step it needs, by step name.
    depends_on: std::collections::BTreeMap<&'a str, &'a str>,
    /// The image-changing build args (transparent ones change nothing and are left out).
    build_args: std::collections::BTreeMap<&'a str, &'a str>,
    /// Where the rendered Dockerfile is inside the image.
    dockerfile: String,
}

/// What a step's image is built from, for its build-info files.
pub struct Inputs<'a> {
    pub flavor: &'a str,
    pub step: &'a str,
    pub description: Option<&'a str>,
    /// The Dockerfile template as written.
    pub template: &'a str,
    /// The image name of each step it needs, by step name.
    pub images: &'a [(String, String)],
    /// Image-changing build args.
    pub args: &'a [(String, String)],
}

impl BuildInfo {
    /// The files of a step, its Dockerfile rendered with the images it needs.
    pub fn new(inputs: &Inputs<'_>, shown: &str) -> Result<Self, Box<RenderError>> {
        let rendered = dockerfile::render(inputs.step, shown, inputs.template, inputs.images)?;
        let name = format!("{}-{}", inputs.flavor, inputs.step);
        let info = ImageInfo {
            flavor: inputs.flavor,
            step: inputs.step,
            description: inputs.description,
            depends_on: inputs
                .images
                .iter()
                .map(|(step, image)| (step.as_str(), image.as_str()))
                .collect(),
            build_args: inputs
                .args
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect(),
            dockerfile: format!("/build_info/dockerfiles/{name}"),
        };
        let mut json = serde_json::to_vec_pretty(&info).unwrap_or_default();
        json.push(b'\n');
        Ok(BuildInfo {
            files: vec![
                (
                    format!("{CONTEXT_DIR}/dockerfiles/{name}"),
                    rendered.into_bytes(),
                ),
                (format!("{CONTEXT_DIR}/image_info/{name}"), json),
            ],
        })
    }

    /// The files as context entries for the step hash (their content is in memory:
    /// `source` is empty, and the build sends them as extras).
    pub fn hashed(&self) -> impl Iterator<Item = ContextFile> + '_ {
        self.files.iter().map(|(path, content)| ContextFile {
            path: path.clone(),
            source: Default::default(),
            executable: false,
            size: content.len() as u64,
            digest: sha256(content),
        })
    }

    /// The files as extra tar entries.
    pub fn extras(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files
            .iter()
            .map(|(path, content)| (path.as_str(), content.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_name_the_step_and_hold_the_rendered_dockerfile() {
        let images = [("base".to_owned(), "kiln:f-base_01".to_owned())];
        let args = [("V".to_owned(), "3".to_owned())];
        let info = BuildInfo::new(
            &Inputs {
                flavor: "f",
                step: "app",
                description: Some("the app"),
                template: "FROM {{ base }}\n",
                images: &images,
                args: &args,
            },
            "Dockerfile",
        )
        .unwrap();
        let paths: Vec<&str> = info.files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".kiln/build_info/dockerfiles/f-app",
                ".kiln/build_info/image_info/f-app"
            ]
        );
        assert_eq!(info.files[0].1, b"FROM kiln:f-base_01\n");
        let json: serde_json::Value = serde_json::from_slice(&info.files[1].1).unwrap();
        assert_eq!(json["depends_on"]["base"], "kiln:f-base_01");
        assert_eq!(json["build_args"]["V"], "3");
        assert_eq!(json["dockerfile"], "/build_info/dockerfiles/f-app");
        assert_eq!(info.hashed().count(), 2);
    }
}
