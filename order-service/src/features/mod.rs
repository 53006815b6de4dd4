//! The service's features, one module each (routes, service, repository,
//! models). None yet: this service's features arrive with its own issue.
