//! Letters to print: the convocation of a participation and the postal
//! invitation, as PDF downloads ([`rdv_app::printed_letters`]).

use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, path_id},
    state::AppState,
};
use axum::{
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use rdv_app::printed_letters::{PrintConvocation, PrintInvitation, PrintedLetter};

/// A PDF download under the letter's file name.
fn pdf(letter: PrintedLetter) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", letter.file_name);
    let mut response = letter.pdf.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The convocation letter of a convocable participation (its cancellation
/// once revoked), named `Convocation_de_{first}_{last}_le_{dd-mm-yyyy}.pdf`.
/// Each download is recorded as a postal notice of the follow-up.
#[utoipa::path(get, path = "/v1/participations/{id}/convocation.pdf", tag = "insertion", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, content_type = "application/pdf", description = "the letter"),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn convocation_pdf(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let command = PrintConvocation {
        participation_id: path_id(&id, "participation")?,
    };
    let ctx = principal.context(&headers, &format!("GET /v1/participations/{id}/convocation.pdf"), "");
    Ok(pdf(command.run(&state, &principal, &ctx).await?))
}

/// The letter of a postal invitation, with its short link.
#[utoipa::path(get, path = "/v1/follow-ups/{id}/invitations/{invitation_id}/letter.pdf", tag = "insertion",
    params(("id" = String, Path), ("invitation_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, content_type = "application/pdf", description = "the letter"),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn invitation_pdf(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let command = PrintInvitation {
        follow_up_id: crate::routes::follow_ups::follow_up_id(&id)?,
        invitation_id: path_id(&invitation_id, "invitation")?,
    };
    Ok(pdf(command.run(&state, &principal).await?))
}
