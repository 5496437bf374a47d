//! The guard against non-finite losses, across all the modules of one
//! training step.

/// A loss that was NaN or infinite; the updates since the last check were
/// undone.
#[derive(Clone, Debug, PartialEq)]
pub struct Diverged {
    /// Which loss (`loss of `generator``).
    pub metric: String,
    /// Its value.
    pub value: f64,
}

/// Something whose recent updates can be checked, and then kept or undone.
///
/// Implemented by [`Optimized`](super::Optimized); a family with several
/// modules settles them together with [`settle`].
pub trait Guarded {
    /// The first non-finite loss since the last [`commit`](Self::commit)
    /// or [`rollback`](Self::rollback), if any (one host read).
    fn check(&self) -> Option<Diverged>;

    /// Puts back the state from before the unchecked updates.
    fn rollback(&mut self);

    /// Keeps the unchecked updates.
    fn commit(&mut self);

    /// Checks, then commits or rolls back.
    ///
    /// # Errors
    /// The non-finite loss, after rolling back.
    fn settle(&mut self) -> Result<(), Diverged> {
        settle(&mut [self])
    }
}

/// Settles several modules as one: if any of them saw a non-finite loss,
/// all of them are rolled back, so that together they are exactly as
/// before the step (a GAN's discriminator is not kept ahead of its
/// generator).
///
/// # Errors
/// The first non-finite loss, after rolling every module back.
pub fn settle<G: Guarded + ?Sized>(modules: &mut [&mut G]) -> Result<(), Diverged> {
    let bad = modules.iter().find_map(|m| m.check());
    for m in modules.iter_mut() {
        if bad.is_some() {
            m.rollback();
        } else {
            m.commit();
        }
    }
    bad.map_or(Ok(()), Err)
}
