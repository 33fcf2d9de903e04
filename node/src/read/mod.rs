//! Read models: what the staff pages and the JSON API show, computed from
//! the store's projections and log. Both doors use these, so a page and
//! its API endpoint always agree. Nothing here decides a business rule;
//! where a page needs to know what a rule allows (which staging slots fit,
//! whether an ID check is needed) it asks `domain`.
pub mod audit;
pub mod dashboard;
pub mod desk;
pub mod queue;
pub mod walk;
