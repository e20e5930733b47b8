//! Pictures uploaded for a project: `PUT /admin/projects/{project}/pictures/{file}` writes
//! the image to `projects/{project}/` under the image root (checked to be an image Tessera
//! reads, written to a temporary file and renamed, so nobody ever reads half a picture);
//! templates of the project then find it by its file name before the shared root.

use std::io::Write;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::HttpError;
use super::access::{caller, perform};
use super::respond::no_store;
use super::state::{AppState, blocking};
use super::team_admin::project_of;
use crate::error::Code;
use crate::overlay::load::project_folder;
use crate::team::Capability;

/// Picture file names: letters, digits, `-`, `_`, `.`, with an image extension.
fn valid_file(name: &str) -> bool {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && matches!(
            ext.as_deref(),
            Some("jpg" | "jpeg" | "png" | "tif" | "tiff" | "webp" | "gif")
        )
}

/// A number no other upload of this process uses.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Uploads (or replaces) a picture.
pub(super) async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let project = project_of(&req)?;
    let file = req.match_info().get("file").unwrap_or_default().to_string();
    if !valid_file(&file) {
        return Err(HttpError::input(
            Code::BadName,
            "picture names are 1 to 128 letters, digits, '-', '_' or '.', ending in .jpg, .png, .tif, .webp or .gif",
        ));
    }
    let max = state.config.templates.max_upload_bytes;
    let body = payload
        .to_bytes_limited(max as usize)
        .await
        .map_err(|_| {
            HttpError::input(
                Code::UploadTooLarge,
                format!("pictures are at most {max} bytes (templates.max_upload_bytes)"),
            )
        })?
        .map_err(|e| HttpError::input(Code::BadUpload, e.to_string()))?;
    let st = state.clone();
    let folder = project_folder(&project);
    let identifier = format!("{folder}/{file}");
    let target = identifier.clone();
    let pid = project.clone();
    let answer = perform(
        &state,
        &c,
        "picture.upload",
        &project,
        &target,
        Capability::Upload,
        move |_| {
            st.access.team.project(&pid)?;
            let (width, height) = image::ImageReader::new(std::io::Cursor::new(&body))
                .with_guessed_format()
                .ok()
                .and_then(|r| r.into_dimensions().ok())
                .ok_or_else(|| HttpError::input(Code::BadUpload, "not an image Tessera reads"))?;
            let dir = st.config.source.root.join(&folder);
            // A hidden temporary name no identifier resolves to, renamed into place.
            let tmp = dir.join(format!(".upload-{}-{}.tmp", std::process::id(), unique()));
            let write = || -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&body)?;
                f.sync_data()?;
                std::fs::rename(&tmp, dir.join(&file))
            };
            if let Err(e) = write() {
                let _ = std::fs::remove_file(&tmp);
                return Err(HttpError::input(
                    Code::Internal,
                    format!("writing the picture: {e}"),
                ));
            }
            st.render.templates.forget_pictures(&pid);
            // Catalogued at once, so it is listed and served over IIIF right away.
            st.render.sources.refresh(&identifier)?;
            let hash = blake3::hash(&body).to_hex().to_string();
            let v = json!({
                "identifier": identifier, "file": file, "bytes": body.len(),
                "width": width, "height": height, "content_hash": hash,
            });
            Ok((v.clone(), v))
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Created(), answer))
}

/// The pictures of a project.
pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let project = project_of(&req)?;
    c.require(&project, Capability::View)?;
    let dir = state.config.source.root.join(project_folder(&project));
    let files = blocking(move || -> Result<Vec<serde_json::Value>, HttpError> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(out);
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if valid_file(&name) {
                let bytes = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(json!({ "file": name, "bytes": bytes }));
            }
        }
        out.sort_by(|a, b| a["file"].as_str().cmp(&b["file"].as_str()));
        Ok(out)
    })
    .await?;
    Ok(no_store(
        HttpResponse::Ok(),
        json!({ "project": project, "pictures": files }),
    ))
}

#[cfg(test)]
mod tests {
    use super::valid_file;

    #[test]
    fn picture_names_are_plain_image_files() {
        assert!(valid_file("logo.png") && valid_file("rep-ana_2.JPG"));
        for bad in [
            "",
            ".hidden.png",
            "a/b.png",
            "../x.png",
            "x.exe",
            "noext",
            "a b.png",
        ] {
            assert!(!valid_file(bad), "{bad}");
        }
    }
}
