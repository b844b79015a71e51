#if canImport(Glibc)
import CMalloc
import Glibc
#endif

/// glibc malloc settings for a long-running process whose heap is mostly one snapshot rebuilt every round.
///
/// Measured with `scripts/bench` (a release build, two targets, 1,000 PgBouncer pools, after 1,000 scrapes):
/// glibc had 14 arenas (one per thread that allocated: event loops, the cooperative pool, the blocking
/// executor) holding 43 MB of which 17 MB were in use. Each round frees the previous snapshot, and glibc
/// keeps freed pages in the arena that freed them. Returning them after each publish and sharing two arenas
/// between the threads brought RssAnon near what is in use (see the memory table of the bench).
public enum ProcessMemory {
    /// At start of `poolwatch run`: at most two malloc arenas, unless `MALLOC_ARENA_MAX` is set (an
    /// operator's choice wins). Threads allocate little and rarely at once, so two arenas do not contend.
    public static func configure() {
        #if canImport(Glibc)
        if getenv("MALLOC_ARENA_MAX") == nil { _ = mallopt(M_ARENA_MAX, 2) }
        #endif
    }

    /// Gives pages that hold only freed memory back to the kernel (every arena, not only the top of the
    /// heap). Called after each re-encode of the exposition, when the previous snapshot has just been freed;
    /// costs well under a millisecond at the bench's largest point.
    public static func releaseFreePages() {
        #if canImport(Glibc)
        if getenv("POOLWATCH_EXPERIMENT_NO_TRIM") == nil { _ = malloc_trim(0) }
        #endif
    }
}
