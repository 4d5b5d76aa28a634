//! The connection table: the slab of connections and the list of those with output to flush.
//!
//! Contract: a slot is inserted only by the reactor loop (accept, a connector's attempt started
//! from a timer or a command) and removed only by the loop (`Conns::remove`, called when a
//! handler's verdict is `Drop`), never while a handler runs. Handlers reach other connections
//! through [`Conns::queue`], which queues and marks the connection dirty; the loop flushes every
//! dirty connection once at the end of its iteration.

use std::ops::{Index, IndexMut};
use std::sync::Arc;

use slab::Slab;

use super::out::{Full, Stamp};
use super::Conn;

/// Every connection, by slab key, and the keys with queued output.
#[derive(Debug, Default)]
pub(crate) struct Conns {
    slab: Slab<Conn>,
    dirty: Vec<usize>,
}

impl Conns {
    pub(crate) fn get(&self, key: usize) -> Option<&Conn> {
        self.slab.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut Conn> {
        self.slab.get_mut(key)
    }

    /// The connection in slot `key`, if it is still the one with this id.
    pub(crate) fn get_id(&mut self, key: usize, id: u64) -> Option<&mut Conn> {
        self.slab.get_mut(key).filter(|c| c.id == id)
    }

    /// The key the next insert will use.
    pub(crate) fn vacant_key(&self) -> usize {
        self.slab.vacant_key()
    }

    pub(crate) fn insert(&mut self, conn: Conn) -> usize {
        self.slab.insert(conn)
    }

    /// Take a connection out of the table (the loop's free).
    pub(crate) fn remove(&mut self, key: usize) -> Option<Conn> {
        self.slab.try_remove(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    pub(crate) fn keys(&self) -> Vec<usize> {
        self.slab.iter().map(|(k, _)| k).collect()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Conn)> {
        self.slab.iter()
    }

    /// Note that `key` has output to flush at the end of the iteration.
    pub(crate) fn mark_dirty(&mut self, key: usize) {
        if let Some(conn) = self.slab.get_mut(key) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    /// Queue a data buffer to `key` within its bound and mark it dirty; [`Full`] if it does not
    /// fit (nothing queued).
    pub(crate) fn queue(&mut self, key: usize, data: Arc<[u8]>, stamp: Stamp) -> Result<(), Full> {
        let conn = &mut self.slab[key];
        conn.out.push(data, stamp)?;
        self.mark_dirty(key);
        Ok(())
    }

    /// Data bytes connection `key` can take now (0 if it does not exist).
    pub(crate) fn room(&self, key: usize) -> usize {
        self.slab.get(key).map_or(0, |c| c.out.room())
    }

    /// The bound of connection `key`'s queue.
    pub(crate) fn bound(&self, key: usize) -> usize {
        self.slab.get(key).map_or(0, |c| c.out.bound())
    }

    /// Note that connection `key` is owed messages (a gap, held values) once its queue drains.
    pub(crate) fn owe(&mut self, key: usize) {
        if let Some(conn) = self.slab.get_mut(key) {
            conn.owed = true;
            // Flushed at the end of this iteration: a queue that is already empty (a batch
            // larger than the whole bound) counts as drained then, not at the next write.
            self.mark_dirty(key);
        }
    }

    /// Bytes queued for connection `key` (0 if it is gone).
    pub(crate) fn queued(&self, key: usize) -> usize {
        self.slab.get(key).map_or(0, |c| c.out.queued())
    }

    /// Queue a control frame to `key` within its bound plus the control reserve.
    pub(crate) fn queue_control(&mut self, key: usize, data: Arc<[u8]>) -> Result<(), Full> {
        self.slab[key].out.push_control(data)?;
        self.mark_dirty(key);
        Ok(())
    }

    /// The next connection to flush (each is listed once until flushed).
    pub(crate) fn pop_dirty(&mut self) -> Option<usize> {
        while let Some(key) = self.dirty.pop() {
            if let Some(conn) = self.slab.get_mut(key) {
                conn.dirty = false;
                return Some(key);
            }
        }
        None
    }
}

impl Index<usize> for Conns {
    type Output = Conn;
    fn index(&self, key: usize) -> &Conn {
        &self.slab[key]
    }
}

impl IndexMut<usize> for Conns {
    fn index_mut(&mut self, key: usize) -> &mut Conn {
        &mut self.slab[key]
    }
}
