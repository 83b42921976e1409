// Writes seed inputs for the schedule harness: the "root" and "per_op" strategies' schedules
// of each graph in schedule_graphs.h, as JSON, into the directory given (corpus/schedule).
//   fuzz_schedule_seeds test/fuzz/corpus/schedule
#include <cstdio>
#include <fstream>
#include <string>

#include "megalide/schedule/strategy.h"
#include "schedule_graphs.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    const std::vector<megalide::Graph> graphs = megalide::fuzz::schedule_fuzz_graphs();
    const megalide::TargetSpec target = megalide::target_spec("x86-64-avx2", 1);
    for (size_t i = 0; i < graphs.size(); ++i) {
        const megalide::LoweredGraph lowered = megalide::lower(graphs[i]);
        for (const char *strategy : {"root", "per_op"}) {
            const std::string path = std::string(argv[1]) + "/" + graphs[i].name + "." + strategy + ".json";
            std::ofstream(path) << megalide::make_schedule(strategy, graphs[i], lowered, target).to_json();
            std::printf("wrote %s\n", path.c_str());
        }
    }
    return 0;
}
