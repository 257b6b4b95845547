/**
 * The etcd revision a watching view has applied, and the calls waiting for it to reach a
 * revision — so a write returns only once the view shows it.
 */
export class RevisionWaiters {
  #applied = 0;
  readonly #waiters: { revision: number; resolve: () => void }[] = [];

  /** The highest revision applied so far. */
  get applied(): number {
    return this.#applied;
  }

  /** Records that the view has applied `revision`; waiters are released by {@link release}. */
  observe(revision: number): void {
    this.#applied = Math.max(this.#applied, revision);
  }

  /** Resolves once `revision` is applied (and released), or when the view closes. */
  wait(revision: number): Promise<void> {
    if (this.#applied >= revision) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ revision, resolve }));
  }

  /** Resolves the waiters whose revision is applied. */
  release(): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i];
      if (waiter !== undefined && waiter.revision <= this.#applied) {
        this.#waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  /** Resolves every waiter: the view is closing. */
  releaseAll(): void {
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }
}
