//! The fuzzed timer callback: a closure that owns a guard reporting every call and the drop to
//! the model, and runs its script.

use super::model::{self, Shared};
use barepoll::Ops;

/// Owned by one timer's callback: the callback is dropped exactly when the guard is.
pub struct FuzzTimer {
    pub id: usize,
    pub model: Shared,
}

impl FuzzTimer {
    fn fire(&self, ops: &mut Ops<'_>) {
        let script = self.model.borrow_mut().on_timer_fire(self.id, ops.timer());
        for action in script {
            model::perform_timer(&self.model, self.id, action, ops);
        }
        self.model.borrow_mut().on_timer_return(self.id);
    }
}

impl Drop for FuzzTimer {
    fn drop(&mut self) {
        self.model.borrow_mut().on_timer_drop(self.id);
    }
}

/// The callback of timer `id`.
pub fn callback(id: usize, model: Shared) -> impl FnMut(&mut Ops<'_>) + 'static {
    let guard = FuzzTimer { id, model };
    move |ops: &mut Ops<'_>| guard.fire(ops)
}
