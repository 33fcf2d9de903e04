//! storenode wire types: everything that crosses a process boundary.
//!
//! Node, cloud-bridge, tests and tools all use this crate; nobody else spells
//! a topic string or chooses an encoding.
//!
//! Compatibility rules (pinned by the golden vectors in `tests/golden.rs`):
//! - postcard encodes enum variants by index: new variants are only ever
//!   appended at the end of an enum, never inserted or reordered.
//! - a change that old readers cannot decode bumps [`codec::FORMAT_VERSION`].
#![forbid(unsafe_code)]

pub mod codec;
pub mod command;
pub mod envelope;
pub mod event;
pub mod gtin;
pub mod ids;
#[cfg(feature = "link")]
pub mod link;
pub mod message;
pub mod pickup;
pub mod stock;
pub mod sync;
pub mod topic;

pub use codec::DecodeError;
pub use command::{Command, CommandEnvelope, CommandReply, NoticeAck, ReplyStatus};
pub use envelope::{Actor, ChainHash, Envelope, SCHEMA_VERSION};
pub use event::{
    device_tenant, ArrivalChannel, CancelStage, CatalogEntry, CatalogItem, DeviceKind, Event,
    EventKind, Location, NewOrder, OrderLine, PaymentMode, PickLine, PickupProof, Role,
    ShortReason, SlotKind, StagingSlot, Zone,
};
pub use ids::{EventId, IdError, OrderId, StoreId};
pub use stock::{
    CountReason, Partial, Receipt, ReceiptKind, ReceiptLine, Reconciled, RejectCode, RejectedLine,
    SafetyScope, SkuAvailability, SkuQuantity, SnapshotLine, StaffRejectReason, WriteOffReason,
};
