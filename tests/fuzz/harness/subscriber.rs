//! The fuzzed subscriber: reports every call and every drop to the model, and runs its script.

use super::model::{self, Shared};
use barepoll::sys::{AsFd, BorrowedFd, OwnedFd};
use barepoll::{Event, Ops, Subscriber};

pub struct FuzzSub {
    pub id: usize,
    /// `None` once the driver closed it behind the reactor's back.
    pub fd: Option<OwnedFd>,
    /// Its extra descriptors, by their index among the model's extras of this subscriber.
    pub extras: Vec<(usize, OwnedFd)>,
    pub model: Shared,
}

impl AsFd for FuzzSub {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.fd {
            Some(fd) => fd.as_fd(),
            None => model::violation(format_args!("sub {}: fd asked for again", self.id)),
        }
    }
}

impl Subscriber for FuzzSub {
    fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
        if ops.timer().is_some() {
            model::violation(format_args!(
                "sub {}: a handler's Ops names a timer",
                self.id
            ));
        }
        let script = self.model.borrow_mut().on_fire(self.id, event);
        for action in script {
            model::perform(self, action, ops);
        }
        self.model.borrow_mut().handler_returns();
    }
}

impl Drop for FuzzSub {
    fn drop(&mut self) {
        let panic = self.model.borrow_mut().on_drop(self.id);
        if panic {
            std::panic::panic_any(model::PLANTED);
        }
    }
}
