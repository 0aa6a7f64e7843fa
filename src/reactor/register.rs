//! A reactor as a place to register into (`handler::Register`, shared with a handler's `Ops`).

use super::Reactor;
use crate::error::Result;
use crate::handler::Register;
use crate::interest::Interest;
use crate::key::Key;
use crate::subscriber::Subscriber;
use crate::threads::{Admit, Threads};

impl<D, T: Threads> Register<D, T> for Reactor<D, T> {
    fn register<S>(&mut self, subscriber: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T>,
        T: Admit<S>,
    {
        Reactor::register(self, subscriber, interest)
    }
}
