//! Review before publishing, as a pure state machine: designers submit a draft, a publisher
//! approves (publishes it) or rejects it with a comment; a submitted draft is locked until
//! then. With four eyes on, the approver must differ from the submitter and nothing is
//! published without a review.

use crate::error::{Code, Coded};

/// Where a template's draft stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewState {
    /// Editable.
    Draft,
    /// Waiting for a publisher; locked.
    Submitted,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Draft => "draft",
            ReviewState::Submitted => "submitted",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewState> {
        match s {
            "draft" => Some(ReviewState::Draft),
            "submitted" => Some(ReviewState::Submitted),
            _ => None,
        }
    }
}

/// Why a review step is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("the draft is submitted for review and locked until it is approved or rejected")]
    Locked,
    #[error("the draft is not submitted for review")]
    NotSubmitted,
    #[error("four eyes: the approver must not be the one who submitted the draft")]
    SameReviewer,
    #[error("this project requires review: submit the draft and have another publisher approve it")]
    ReviewRequired,
    #[error("a rejection needs a comment saying why")]
    CommentRequired,
}

impl Coded for ReviewError {
    fn code(&self) -> Code {
        match self {
            ReviewError::Locked => Code::DraftLocked,
            ReviewError::NotSubmitted => Code::NotSubmitted,
            ReviewError::SameReviewer => Code::FourEyes,
            ReviewError::ReviewRequired => Code::ReviewRequired,
            ReviewError::CommentRequired => Code::BadBody,
        }
    }
}

/// Saving the draft: only while it is not submitted.
pub fn edit(state: ReviewState) -> Result<(), ReviewError> {
    match state {
        ReviewState::Draft => Ok(()),
        ReviewState::Submitted => Err(ReviewError::Locked),
    }
}

/// Submitting: a draft that is not already submitted.
pub fn submit(state: ReviewState) -> Result<ReviewState, ReviewError> {
    edit(state).map(|()| ReviewState::Submitted)
}

/// Approving (which publishes): a submitted draft, by someone else when four eyes is on.
pub fn approve(
    state: ReviewState,
    submitter: Option<&str>,
    approver: &str,
    four_eyes: bool,
) -> Result<ReviewState, ReviewError> {
    if state != ReviewState::Submitted {
        return Err(ReviewError::NotSubmitted);
    }
    if four_eyes && submitter == Some(approver) {
        return Err(ReviewError::SameReviewer);
    }
    Ok(ReviewState::Draft)
}

/// Rejecting: a submitted draft, with a comment; it becomes editable again.
pub fn reject(state: ReviewState, comment: &str) -> Result<ReviewState, ReviewError> {
    if state != ReviewState::Submitted {
        return Err(ReviewError::NotSubmitted);
    }
    if comment.trim().is_empty() {
        return Err(ReviewError::CommentRequired);
    }
    Ok(ReviewState::Draft)
}

/// Publishing without a review: a submitted draft is approved instead (same checks); an
/// unsubmitted one only when the project does not require four eyes.
pub fn publish(
    state: ReviewState,
    submitter: Option<&str>,
    publisher: &str,
    four_eyes: bool,
) -> Result<ReviewState, ReviewError> {
    match state {
        ReviewState::Submitted => approve(state, submitter, publisher, four_eyes),
        ReviewState::Draft if four_eyes => Err(ReviewError::ReviewRequired),
        ReviewState::Draft => Ok(ReviewState::Draft),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReviewState::*;

    #[test]
    fn submitted_drafts_are_locked_until_reviewed() {
        assert_eq!(edit(Draft), Ok(()));
        assert_eq!(submit(Draft), Ok(Submitted));
        assert_eq!(edit(Submitted), Err(ReviewError::Locked));
        assert_eq!(submit(Submitted), Err(ReviewError::Locked));
        assert_eq!(reject(Submitted, "logo too small"), Ok(Draft));
        assert_eq!(reject(Submitted, " "), Err(ReviewError::CommentRequired));
        assert_eq!(reject(Draft, "x"), Err(ReviewError::NotSubmitted));
        assert_eq!(
            approve(Draft, None, "b", false),
            Err(ReviewError::NotSubmitted)
        );
    }

    #[test]
    fn four_eyes_needs_a_second_person_and_a_review() {
        assert_eq!(approve(Submitted, Some("a"), "a", false), Ok(Draft));
        assert_eq!(
            approve(Submitted, Some("a"), "a", true),
            Err(ReviewError::SameReviewer)
        );
        assert_eq!(approve(Submitted, Some("a"), "b", true), Ok(Draft));
        assert_eq!(publish(Draft, None, "a", false), Ok(Draft));
        assert_eq!(
            publish(Draft, None, "a", true),
            Err(ReviewError::ReviewRequired)
        );
        assert_eq!(
            publish(Submitted, Some("a"), "a", true),
            Err(ReviewError::SameReviewer)
        );
    }
}
