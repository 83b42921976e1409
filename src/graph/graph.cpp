#include "megalide/graph/graph.h"

#include <algorithm>
#include <iomanip>
#include <map>
#include <set>
#include <cmath>
#include <sstream>

#include "megalide/error.h"
#include "megalide/graph/shape_inference.h"

namespace megalide {

Attribute Attribute::of(int64_t v) { Attribute a; a.kind = Kind::Int; a.i = v; return a; }
Attribute Attribute::of(double v) { Attribute a; a.kind = Kind::Float; a.f = v; return a; }
Attribute Attribute::of(std::string v) { Attribute a; a.kind = Kind::String; a.s = std::move(v); return a; }
Attribute Attribute::of(std::vector<int64_t> v) { Attribute a; a.kind = Kind::Ints; a.ints = std::move(v); return a; }
Attribute Attribute::of(std::vector<double> v) { Attribute a; a.kind = Kind::Floats; a.floats = std::move(v); return a; }
Attribute Attribute::of(HostArray v) {
    Attribute a;
    a.kind = Kind::Tensor;
    a.tensor = std::make_shared<const HostArray>(std::move(v));
    return a;
}

namespace {

std::string format_float(double v) {
    std::ostringstream out;
    out << std::setprecision(9) << v;
    return out.str();
}

template <typename T, typename F>
std::string list(const std::vector<T> &items, F format) {
    std::string s = "[";
    for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + format(items[i]);
    return s + "]";
}

}  // namespace

std::string Attribute::str() const {
    switch (kind) {
    case Kind::Int: return std::to_string(i);
    case Kind::Float: return format_float(f);
    case Kind::String: return "\"" + s + "\"";
    case Kind::Ints: return list(ints, [](int64_t v) { return std::to_string(v); });
    case Kind::Floats: return list(floats, format_float);
    case Kind::Strings: return list(strings, [](const std::string &v) { return "\"" + v + "\""; });
    case Kind::Tensor: return "tensor " + describe(tensor->dtype, tensor->shape);
    }
    return "?";
}

namespace {

const Attribute *find_attr(const Node &n, const std::string &attr, Attribute::Kind kind) {
    auto it = n.attrs.find(attr);
    if (it == n.attrs.end()) return nullptr;
    if (it->second.kind != kind) {
        throw Error(n.label() + ": attribute '" + attr + "' has the wrong kind (" +
                    it->second.str() + ")");
    }
    return &it->second;
}

}  // namespace

int64_t Node::get_int(const std::string &attr, int64_t fallback) const {
    const Attribute *a = find_attr(*this, attr, Attribute::Kind::Int);
    return a ? a->i : fallback;
}

double Node::get_float(const std::string &attr, double fallback) const {
    auto it = attrs.find(attr);
    if (it != attrs.end() && it->second.kind == Attribute::Kind::Int) return double(it->second.i);
    const Attribute *a = find_attr(*this, attr, Attribute::Kind::Float);
    return a ? a->f : fallback;
}

std::string Node::get_string(const std::string &attr, const std::string &fallback) const {
    const Attribute *a = find_attr(*this, attr, Attribute::Kind::String);
    return a ? a->s : fallback;
}

std::vector<int64_t> Node::get_ints(const std::string &attr, std::vector<int64_t> fallback) const {
    const Attribute *a = find_attr(*this, attr, Attribute::Kind::Ints);
    return a ? a->ints : fallback;
}

const std::string &Node::input(size_t i) const {
    static const std::string none;
    return i < inputs.size() ? inputs[i] : none;
}

Value &Graph::add_input(const std::string &name, DType dtype, std::vector<int64_t> shape) {
    if (values_.count(name)) throw Error("graph '" + this->name + "': value '" + name + "' defined twice");
    Value &v = values_[name];
    v.name = name, v.dtype = dtype, v.shape = std::move(shape), v.shape_known = true;
    inputs.push_back(name);
    return v;
}

Value &Graph::add_constant(const std::string &name, HostArray value) {
    if (values_.count(name)) throw Error("graph '" + this->name + "': value '" + name + "' defined twice");
    Value &v = values_[name];
    v.name = name, v.dtype = value.dtype, v.shape = value.shape, v.shape_known = true;
    v.constant = std::make_shared<const HostArray>(std::move(value));
    return v;
}

Node &Graph::add_node(const std::string &op, std::vector<std::string> ins,
                      std::vector<std::string> outs, std::map<std::string, Attribute> attrs,
                      std::string node_name) {
    // A qualified op ("com.megalide.Gelu") names its domain.
    const size_t dot = op.rfind('.');
    const std::string domain = dot == std::string::npos ? "" : op.substr(0, dot);
    const std::string type = dot == std::string::npos ? op : op.substr(dot + 1);
    if (node_name.empty()) node_name = type + "_" + std::to_string(next_id_++);
    for (const std::string &out : outs) {
        if (out.empty()) continue;
        if (values_.count(out)) {
            throw Error(op + " '" + node_name + "': output '" + out + "' is already defined");
        }
        values_[out].name = out;
    }
    nodes.push_back({type, std::move(node_name), std::move(ins), std::move(outs), std::move(attrs), domain});
    return nodes.back();
}

void Graph::add_output(const std::string &name) {
    if (!values_.count(name)) throw Error("graph '" + this->name + "': output '" + name + "' is not defined");
    outputs.push_back(name);
}

const Value &Graph::value(const std::string &name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw Error("graph '" + this->name + "': no value named '" + name + "'");
    return it->second;
}

Value &Graph::value(const std::string &name) {
    auto it = values_.find(name);
    if (it == values_.end()) throw Error("graph '" + this->name + "': no value named '" + name + "'");
    return it->second;
}

bool Graph::is_constant(const std::string &name) const {
    auto it = values_.find(name);
    return it != values_.end() && it->second.constant != nullptr;
}

const Node *Graph::producer(const std::string &value) const {
    for (const Node &n : nodes) {
        if (std::find(n.outputs.begin(), n.outputs.end(), value) != n.outputs.end()) return &n;
    }
    return nullptr;
}

std::vector<size_t> Graph::consumers(const std::string &value) const {
    std::vector<size_t> users;
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (std::find(nodes[i].inputs.begin(), nodes[i].inputs.end(), value) != nodes[i].inputs.end()) {
            users.push_back(i);
        }
    }
    return users;
}

int Graph::use_count(const std::string &value) const {
    int uses = static_cast<int>(std::count(outputs.begin(), outputs.end(), value));
    for (const Node &n : nodes) uses += static_cast<int>(std::count(n.inputs.begin(), n.inputs.end(), value));
    return uses;
}

void Graph::sort() {
    std::set<std::string> available;
    for (const std::string &in : inputs) available.insert(in);
    for (const auto &[name, v] : values_) {
        if (v.constant) available.insert(name);
    }
    std::vector<Node> pending = std::move(nodes), sorted;
    nodes.clear();
    while (!pending.empty()) {
        bool progress = false;
        for (size_t i = 0; i < pending.size();) {
            const Node &n = pending[i];
            const bool ready = std::all_of(n.inputs.begin(), n.inputs.end(), [&](const std::string &in) {
                return in.empty() || available.count(in);
            });
            if (!ready) {
                ++i;
                continue;
            }
            for (const std::string &out : n.outputs) available.insert(out);
            sorted.push_back(std::move(pending[i]));
            pending.erase(pending.begin() + static_cast<long>(i));
            progress = true;
        }
        if (!progress) {
            const Node &stuck = pending.front();
            std::set<std::string> produced;
            for (const Node &n : pending) produced.insert(n.outputs.begin(), n.outputs.end());
            for (const std::string &in : stuck.inputs) {
                if (!in.empty() && !available.count(in) && !produced.count(in)) {
                    nodes = std::move(sorted);
                    throw Error(stuck.label() + ": input '" + in + "' is not a graph input, an initializer or any node's output");
                }
            }
            nodes = std::move(sorted);
            throw Error(stuck.label() + ": is part of a cycle");
        }
    }
    nodes = std::move(sorted);
}

void Graph::remove_dead() {
    std::set<std::string> live(outputs.begin(), outputs.end());
    std::vector<bool> keep(nodes.size(), false);
    for (size_t i = nodes.size(); i-- > 0;) {
        const Node &n = nodes[i];
        const bool needed = std::any_of(n.outputs.begin(), n.outputs.end(),
                                        [&](const std::string &o) { return live.count(o) != 0; });
        if (!needed) continue;
        keep[i] = true;
        live.insert(n.inputs.begin(), n.inputs.end());
    }
    std::vector<Node> kept;
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (keep[i]) kept.push_back(std::move(nodes[i]));
    }
    nodes = std::move(kept);
    for (const Node &n : nodes) live.insert(n.outputs.begin(), n.outputs.end());
    live.insert(inputs.begin(), inputs.end());
    for (auto it = values_.begin(); it != values_.end();) {
        it = live.count(it->first) ? std::next(it) : values_.erase(it);
    }
}

void Graph::infer_shapes() {
    for (const std::string &name : inputs) {
        const Value &v = value(name);
        check_tensor_size(limits, "graph '" + this->name + "': input '" + name + "'", v.dtype, v.shape);
    }
    for (Node &n : nodes) infer_node(*this, n);
    // Every tensor fits; all of them together must too (per_op keeps each one in memory).
    double total = 0;
    std::vector<std::pair<double, std::string>> largest;
    for (const auto &[name, v] : values_) {
        if (!v.shape_known) continue;
        double bytes = static_cast<double>(item_size(v.dtype));
        for (int64_t d : v.shape) bytes *= static_cast<double>(d);
        total += bytes;
        largest.emplace_back(bytes, name);
    }
    if (total > static_cast<double>(limits.max_memory)) {
        std::sort(largest.rbegin(), largest.rend());
        std::string top;
        for (size_t i = 0; i < std::min<size_t>(3, largest.size()); ++i) {
            top += (i ? ", '" : "'") + largest[i].second + "' " + ResourceLimits::format_size(largest[i].first);
        }
        throw Error("graph '" + name + "': its tensors take " + ResourceLimits::format_size(total) + " in all, over the memory limit of " +
                    ResourceLimits::format_size(static_cast<double>(limits.max_memory)) + " (largest: " + top +
                    "; raise it with --max-memory)");
    }
}

int64_t ResourceLimits::parse_size(const std::string &text) {
    const std::string bad = "memory size '" + text + "' is not a byte count such as 4G, 512M, 64K or 1048576";
    size_t used = 0;
    double number = 0;
    try {
        number = std::stod(text, &used);
    } catch (const std::exception &) {
        throw Error(bad);
    }
    std::string unit = text.substr(used);
    if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
    if (unit == "i" || (unit.size() == 2 && (unit[1] == 'i' || unit[1] == 'I'))) unit = unit.substr(0, unit.size() - 1);
    static const std::map<std::string, double> scale = {{"", 1}, {"k", 1024.0}, {"K", 1024.0}, {"m", 1048576.0}, {"M", 1048576.0},
                                                        {"g", 1073741824.0}, {"G", 1073741824.0}, {"t", 1099511627776.0},
                                                        {"T", 1099511627776.0}};
    const auto it = scale.find(unit);
    if (it == scale.end() || !(number > 0) || !std::isfinite(number) || number * it->second > 9.0e18) throw Error(bad);
    return static_cast<int64_t>(number * it->second);
}

std::string ResourceLimits::format_size(double bytes) {
    static const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) bytes /= 1024, ++u;
    std::ostringstream s;
    s << std::setprecision(u ? 3 : 20) << bytes << " " << units[u];
    return s.str();
}

void Graph::rename_value(const std::string &from, const std::string &to) {
    if (values_.count(to)) throw Error("graph '" + name + "': cannot rename '" + from + "' to existing '" + to + "'");
    Value v = value(from);
    v.name = to;
    values_.erase(from);
    values_[to] = std::move(v);
    for (Node &n : nodes) {
        for (std::string &in : n.inputs) if (in == from) in = to;
        for (std::string &out : n.outputs) if (out == from) out = to;
    }
    for (std::string &o : outputs) if (o == from) o = to;
}

void Graph::redirect_output(const std::string &from, const std::string &to) {
    const std::string dead = unique_name(from + "_dead");
    Value old = value(from);
    old.name = dead;
    values_.erase(from);
    values_[dead] = old;
    for (Node &n : nodes) {
        for (std::string &out : n.outputs) if (out == from) out = dead;
        for (std::string &in : n.inputs) if (in == from) in = to;
    }
    Value moved = value(to);
    moved.name = from;
    values_.erase(to);
    values_[from] = moved;
    for (Node &n : nodes) {
        for (std::string &out : n.outputs) if (out == to) out = from;
        for (std::string &in : n.inputs) if (in == to) in = from;
    }
}

std::string Graph::unique_name(const std::string &stem) const {
    if (!values_.count(stem)) return stem;
    for (int i = 1;; ++i) {
        std::string candidate = stem + "_" + std::to_string(i);
        if (!values_.count(candidate)) return candidate;
    }
}

void check_quant_params(const QuantParams &q, DType type, int64_t channels, const std::string &what) {
    if (type != DType::UInt8 && type != DType::Int8 && type != DType::Int32) {
        throw Error(what + ": quantized values must be uint8, int8 or int32, not " + to_string(type));
    }
    if (q.scales.empty() || q.scales.size() != q.zero_points.size()) {
        throw Error(what + ": " + std::to_string(q.scales.size()) + " scales and " + std::to_string(q.zero_points.size()) +
                    " zero points (they must pair up, at least one)");
    }
    if (q.scales.size() > 1 && static_cast<int64_t>(q.scales.size()) != channels) {
        throw Error(what + ": " + std::to_string(q.scales.size()) + " per-channel scales for " + std::to_string(channels) + " channels");
    }
    const int64_t lo = type == DType::UInt8 ? 0 : type == DType::Int8 ? -128 : INT32_MIN;
    const int64_t hi = type == DType::UInt8 ? 255 : type == DType::Int8 ? 127 : INT32_MAX;
    for (size_t i = 0; i < q.scales.size(); ++i) {
        if (!(q.scales[i] > 0) || !std::isfinite(q.scales[i])) {
            throw Error(what + ": scale " + std::to_string(q.scales[i]) + " must be positive and finite");
        }
        if (q.zero_points[i] < lo || q.zero_points[i] > hi) {
            throw Error(what + ": zero point " + std::to_string(q.zero_points[i]) + " is outside " + to_string(type) + "'s range [" +
                        std::to_string(lo) + ", " + std::to_string(hi) + "]");
        }
    }
}

std::string Graph::dump() const {
    std::ostringstream out;
    auto type_of = [&](const std::string &name) {
        const Value &v = value(name);
        std::string t = v.shape_known ? describe(v.dtype, v.shape) : to_string(v.dtype) + "[?]";
        if (v.quant) {
            std::ostringstream q;
            q.precision(6);
            if (v.quant->scales.size() == 1) {
                q << " q(scale=" << v.quant->scales[0] << ", zero_point=" << v.quant->zero_points.at(0) << ")";
            } else {
                q << " q(axis=" << v.quant->axis << ", " << v.quant->scales.size() << " channels)";
            }
            t += q.str();
        }
        return t;
    };
    out << "graph " << name << "\n";
    for (const std::string &in : inputs) out << "  input %" << in << ": " << type_of(in) << "\n";
    for (const auto &[name, v] : values_) {
        if (v.constant) out << "  const %" << name << ": " << type_of(name) << "\n";
    }
    for (const Node &n : nodes) {
        out << "  ";
        for (size_t i = 0; i < n.outputs.size(); ++i) out << (i ? ", %" : "%") << n.outputs[i];
        out << " = " << n.qualified_op() << "(";
        for (size_t i = 0; i < n.inputs.size(); ++i) {
            out << (i ? ", " : "") << (n.inputs[i].empty() ? "_" : "%" + n.inputs[i]);
        }
        out << ")";
        if (!n.attrs.empty()) {
            out << " {";
            bool first = true;
            for (const auto &[key, attr] : n.attrs) {
                out << (first ? "" : ", ") << key << "=" << attr.str();
                first = false;
            }
            out << "}";
        }
        out << " : ";
        for (size_t i = 0; i < n.outputs.size(); ++i) out << (i ? ", " : "") << type_of(n.outputs[i]);
        out << "\n";
    }
    for (const std::string &o : outputs) out << "  output %" << o << "\n";
    return out.str();
}

}  // namespace megalide
