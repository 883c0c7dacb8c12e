//! virtio-blk over a raw image file: `device` is the virtio side (config
//! space, queue, event handling), `request` parses and executes one request
//! against the image. Read-only disks are enforced here, not trusted to
//! the guest's driver.

mod device;
mod request;

pub use device::BlockDevice;
