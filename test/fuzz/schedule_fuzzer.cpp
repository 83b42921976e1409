// Fuzz harness: JSON bytes -> Schedule::from_json -> check_schedule against two small
// lowered block graphs (schedule_graphs.h). A schedule the check accepts is then applied to
// a freshly lowered copy of that graph: check_schedule is apply's dry run, so anything Halide
// refuses after the check passed (a Halide::CompileError from a split, compute_at...) is a
// finding too. Nothing is compiled or run.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "megalide/schedule/schedule.h"
#include "schedule_graphs.h"

namespace {

struct Fixture {
    std::vector<megalide::Graph> graphs = megalide::fuzz::schedule_fuzz_graphs();
    std::vector<megalide::LoweredGraph> lowered;
    Fixture() {
        for (const megalide::Graph &g : graphs) lowered.push_back(megalide::lower(g));
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const Fixture fixture;
    const std::string text(reinterpret_cast<const char *>(data), size);
    try {
        const megalide::Schedule schedule = megalide::Schedule::from_json(text, "fuzz.json");
        (void)schedule.placements();
        (void)schedule.to_cpp();
        for (size_t i = 0; i < fixture.graphs.size(); ++i) {
            try {
                megalide::check_schedule(schedule, fixture.lowered[i]);
            } catch (const megalide::Error &) {
                continue;
            }
            // An autoscheduler schedule would run the autoscheduler: not this harness's job.
            if (!schedule.autoscheduler.empty()) continue;
            megalide::LoweredGraph fresh = megalide::lower(fixture.graphs[i]);
            megalide::apply_schedule(schedule, fresh);
        }
    } catch (const megalide::Error &) {
        // The expected answer to malformed JSON or a schedule that does not fit.
    } catch (...) {
        megalide::fuzz::fail_on_unexpected_exception("schedule");
    }
    return 0;
}
