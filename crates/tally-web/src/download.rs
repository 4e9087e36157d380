//! Streamed CSV and ZIP downloads, shared by the API's export routes and the
//! portal's links. Everything that can fail with a status is settled before
//! the response starts (by preparing a [`CsvExport`] or a [`ZipExport`]);
//! the body is then written by a task into a bounded channel, so memory
//! holds a few 64 KiB chunks whatever the number of events. A failure after
//! the first byte cannot change the status: the body is cut with an error,
//! so the client sees an incomplete transfer, never a complete-looking file.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt, future};
use tally_billing::export::{CsvExport, ExportError, ZipExport};
use tracing::Instrument;

/// Chunks in flight between the exporting task and the connection: a slow
/// client slows the export down instead of filling memory.
const CHANNEL_CHUNKS: usize = 4;

/// The CSV's media type.
pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";
/// The ZIP's media type.
pub const ZIP_CONTENT_TYPE: &str = "application/zip";

/// `events-{product_id}.csv`, streamed. A product id is `itm_` and base62:
/// safe in a header as it is.
pub fn csv(export: CsvExport, product_id: &str) -> Response {
    let file_name = format!("events-{product_id}.csv");
    attachment(
        streamed(Export::Csv(Box::new(export))),
        CSV_CONTENT_TYPE,
        &file_name,
    )
}

/// `events-{invoice number}.zip`, streamed.
pub fn zip(export: ZipExport) -> Response {
    let file_name = export.file_name();
    attachment(streamed(Export::Zip(export)), ZIP_CONTENT_TYPE, &file_name)
}

fn attachment(body: Body, content_type: &'static str, file_name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{file_name}\"");
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

enum Export {
    Csv(Box<CsvExport>),
    Zip(ZipExport),
}

/// A body fed by a task writing the export into a bounded channel.
fn streamed(export: Export) -> Body {
    let (sender, receiver) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(CHANNEL_CHUNKS);
    let task = async move {
        let mut cut = sender.clone();
        let mut chunks = sender.with(|chunk| future::ready(Ok::<_, mpsc::SendError>(Ok(chunk))));
        let written = match export {
            Export::Csv(export) => export.write_to(&mut chunks, &mut |_| {}).await,
            Export::Zip(export) => export.write_to(&mut chunks, &mut |_| {}).await,
        };
        match written {
            Ok(rows) => tracing::debug!(rows, "export written"),
            Err(ExportError::Closed) => tracing::debug!("export abandoned by the client"),
            Err(error) => {
                tracing::error!(%error, "export failed after its first byte");
                let _ = cut.send(Err(std::io::Error::other("export failed"))).await;
            }
        }
    };
    tokio::spawn(task.in_current_span());
    Body::from_stream(receiver.map(|chunk| chunk.map_err(axum::Error::new)))
}
