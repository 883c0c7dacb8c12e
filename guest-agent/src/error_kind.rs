//! The one classification of what went wrong, shared by every domain error
//! (containers, images, networks, shells) and the engine: the API turns a
//! kind into Docker's status code in exactly one place (`api/error.rs`).
//!
//! Owns the list of kinds and nothing else; it must never name an HTTP
//! status (that is the API's choice) nor import another module of the crate,
//! so that every module can classify its errors without an import cycle.

/// What kind of failure an error is, in the terms clients act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object named does not exist (Docker's 404: `run` pulls on it,
    /// `inspect` tries the next kind of object).
    NotFound,
    /// The object's state or a name in use forbids it (409).
    Conflict,
    /// The request itself is wrong (400).
    Invalid,
    /// Nothing to do (304): start a running container, stop a stopped one.
    NotModified,
    /// The credentials were refused (401: a failed `docker login`). Never
    /// for a pull, where the CLI would fall back to prompting for a password.
    Unauthorized,
    /// Never allowed, whatever the state (403: removing a predefined network).
    Forbidden,
    /// A feature this engine does not offer in this setting (503, as Docker
    /// answers swarm routes on a node that is no manager).
    Unavailable,
    /// What the object is configured with cannot do it (501: `logs` of a
    /// container whose log driver cannot be read back).
    NotImplemented,
    /// The engine failed (500): I/O, a corrupt record, a runtime crash.
    Internal,
}
