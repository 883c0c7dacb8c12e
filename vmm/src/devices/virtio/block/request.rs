//! One virtio-blk request: a 16-byte header the driver wrote, a data area,
//! and a status byte for us to write. Parsing checks every guest-given
//! length, sector and direction; execution goes through `pread`/`pwrite` on
//! the image so there is no shared file offset to race on.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;

use virtio_bindings::virtio_blk::{
    VIRTIO_BLK_ID_BYTES, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_FLUSH,
    VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
};
use virtio_queue::DescriptorChain;
use vm_memory::{ByteValued, GuestMemoryMmap};

pub const SECTOR_SIZE: u64 = 512;
/// Bounce buffer size for copying between the image and guest memory.
const CHUNK: usize = 128 * 1024;

/// The request header, as the driver lays it out.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RequestHeader {
    request_type: u32,
    reserved: u32,
    sector: u64,
}

// SAFETY: `repr(C)` of two u32s and a u64: no padding, any bits are valid.
unsafe impl ByteValued for RequestHeader {}

/// Why a request could not even be answered with a status byte.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("descriptor chain: {0}")]
    Chain(#[from] virtio_queue::Error),
    #[error("request header shorter than 16 bytes")]
    ShortHeader,
    #[error("no writable byte for the status")]
    NoStatus,
    #[error("writing the status byte: {0}")]
    Status(std::io::Error),
}

/// The disk image a request runs against.
pub struct Disk {
    pub file: File,
    pub read_only: bool,
    pub capacity_sectors: u64,
    pub id: [u8; VIRTIO_BLK_ID_BYTES as usize],
}

impl Disk {
    /// Byte offset of `[sector, sector + len)` if it lies on the disk.
    fn range(&self, sector: u64, len: usize) -> Option<u64> {
        let len = len as u64;
        if !len.is_multiple_of(SECTOR_SIZE) {
            return None;
        }
        let end = sector.checked_add(len / SECTOR_SIZE)?;
        (end <= self.capacity_sectors).then(|| sector * SECTOR_SIZE)
    }
}

/// Executes one request; returns the bytes written into the guest's
/// buffers (data + status) for the used ring.
pub fn execute(
    disk: &Disk,
    mem: &GuestMemoryMmap,
    chain: DescriptorChain<&GuestMemoryMmap>,
) -> Result<u32, RequestError> {
    let mut reader = chain.clone().reader(mem)?;
    let mut data_out = chain.writer(mem)?;
    let header: RequestHeader = reader.read_obj().map_err(|_| RequestError::ShortHeader)?;
    let writable = data_out.available_bytes();
    if writable == 0 {
        return Err(RequestError::NoStatus);
    }
    let mut status_out = data_out.split_at(writable - 1)?;

    let status = match header.request_type {
        VIRTIO_BLK_T_IN => read_sectors(disk, header.sector, &mut data_out),
        VIRTIO_BLK_T_OUT if disk.read_only => {
            tracing::debug!(sector = header.sector, "virtio-blk: write to a read-only disk refused");
            VIRTIO_BLK_S_IOERR
        }
        VIRTIO_BLK_T_OUT => write_sectors(disk, header.sector, &mut reader),
        VIRTIO_BLK_T_FLUSH if disk.read_only => VIRTIO_BLK_S_OK,
        VIRTIO_BLK_T_FLUSH => match disk.file.sync_data() {
            Ok(()) => VIRTIO_BLK_S_OK,
            Err(e) => {
                tracing::warn!(error = %e, "virtio-blk: flush failed");
                VIRTIO_BLK_S_IOERR
            }
        },
        VIRTIO_BLK_T_GET_ID => {
            let n = data_out.available_bytes().min(disk.id.len());
            match data_out.write_all(&disk.id[..n]) {
                Ok(()) => VIRTIO_BLK_S_OK,
                Err(_) => VIRTIO_BLK_S_IOERR,
            }
        }
        other => {
            tracing::debug!(request_type = other, "virtio-blk: unsupported request");
            VIRTIO_BLK_S_UNSUPP
        }
    };
    status_out.write_all(&[status as u8]).map_err(RequestError::Status)?;
    Ok((data_out.bytes_written() + 1) as u32)
}

fn read_sectors(disk: &Disk, sector: u64, out: &mut virtio_queue::Writer<'_>) -> u32 {
    let len = out.available_bytes();
    let Some(mut offset) = disk.range(sector, len) else {
        tracing::debug!(sector, len, capacity = disk.capacity_sectors, "virtio-blk: read outside the disk");
        return VIRTIO_BLK_S_IOERR;
    };
    let mut buf = vec![0u8; len.min(CHUNK)];
    let mut left = len;
    while left > 0 {
        let n = left.min(CHUNK);
        if let Err(e) = disk.file.read_exact_at(&mut buf[..n], offset) {
            tracing::warn!(error = %e, offset, "virtio-blk: image read failed");
            return VIRTIO_BLK_S_IOERR;
        }
        if out.write_all(&buf[..n]).is_err() {
            return VIRTIO_BLK_S_IOERR;
        }
        offset += n as u64;
        left -= n;
    }
    VIRTIO_BLK_S_OK
}

fn write_sectors(disk: &Disk, sector: u64, input: &mut virtio_queue::Reader<'_>) -> u32 {
    let len = input.available_bytes();
    let Some(mut offset) = disk.range(sector, len) else {
        tracing::debug!(sector, len, capacity = disk.capacity_sectors, "virtio-blk: write outside the disk");
        return VIRTIO_BLK_S_IOERR;
    };
    let mut buf = vec![0u8; len.min(CHUNK)];
    let mut left = len;
    while left > 0 {
        let n = left.min(CHUNK);
        if input.read_exact(&mut buf[..n]).is_err() {
            return VIRTIO_BLK_S_IOERR;
        }
        if let Err(e) = disk.file.write_all_at(&buf[..n], offset) {
            tracing::warn!(error = %e, offset, "virtio-blk: image write failed");
            return VIRTIO_BLK_S_IOERR;
        }
        offset += n as u64;
        left -= n;
    }
    VIRTIO_BLK_S_OK
}
