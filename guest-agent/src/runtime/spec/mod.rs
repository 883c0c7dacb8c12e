//! The OCI runtime spec of a container with Docker's defaults.
