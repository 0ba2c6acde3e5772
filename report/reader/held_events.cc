// report/reader/held_events.cc: see held_events.h.
#include "report/reader/held_events.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "preload/format/record_format.h"

namespace allocwatch::report {

bool HeldEvents::Add(std::vector<uint8_t>&& record, uint64_t offset, uint32_t version) {
  format::EventsRecord head;
  if (record.size() < sizeof(head)) return false;
  std::memcpy(&head, record.data(), sizeof(head));
  if (head.bytes > record.size() - sizeof(head) || head.count > head.bytes) return false;
  const uint8_t* p = record.data() + sizeof(head);
  const uint8_t* end = p + head.bytes;
  format::EventCodecState state;
  state.last_time = head.base_time_ns;
  state.version = version;
  if ((head.header.flags & format::kEventsFlagInOrder) != 0 && version >= 5) {
    return AddInOrder(std::move(record), offset, head, state);
  }
  // Every event must decode before any is added; runs start where the ticks go back.
  starts_.clear();
  run_last_.clear();
  uint64_t previous = 0;
  for (uint32_t i = 0; i < head.count; ++i) {
    RunStart start{p, state, i};
    uint64_t ticks = 0;
    if (!format::SkipEvent(state, p, end, format::kMaxCall, &ticks)) return false;
    if (i == 0 || ticks < previous) {
      if (i > 0) run_last_.push_back(previous);
      starts_.push_back(start);
    }
    previous = ticks;
  }
  run_last_.push_back(previous);
  if (p != end) return false;
  if (head.count == 0) {
    spare_.push_back(std::move(record));
    return true;
  }
  uint32_t b = KeepBuffer(std::move(record), static_cast<uint32_t>(starts_.size()));
  for (size_t k = 0; k < starts_.size(); ++k) {
    uint32_t last = k + 1 < starts_.size() ? starts_[k + 1].index : head.count;
    Run r;
    r.buffer = b;
    r.left = last - starts_[k].index - 1;
    r.p = starts_[k].p;
    r.end = end;
    r.state = starts_[k].state;
    r.offset = offset;
    format::DecodeEvent(r.state, r.p, r.end, &r.head);  // checked above
    r.last_ticks = run_last_[k];
    AddRun(r);
  }
  held_ += head.count;
  return true;
}

bool HeldEvents::AddInOrder(std::vector<uint8_t>&& record, uint64_t offset,
                            const format::EventsRecord& head, format::EventCodecState state) {
  if (head.count == 0) {
    if (head.bytes != 0) return false;
    spare_.push_back(std::move(record));
    return true;
  }
  Run r;
  r.p = record.data() + sizeof(head);
  r.end = r.p + head.bytes;
  r.state = state;
  if (!DecodeChecked(r, 0, &r.head)) return false;  // damaged from its first event: refused
  r.left = head.count - 1;
  r.offset = offset;
  r.last_ticks = UINT64_MAX;  // not known before its events are decoded
  r.checked = false;
  // The vector's heap buffer does not move with it: r.p and r.end stay valid.
  r.buffer = KeepBuffer(std::move(record), 1);
  AddRun(r);
  held_ += head.count;
  return true;
}

uint32_t HeldEvents::KeepBuffer(std::vector<uint8_t>&& record, uint32_t runs) {
  uint32_t b;
  if (!free_buffers_.empty()) {
    b = free_buffers_.back();
    free_buffers_.pop_back();
  } else {
    b = static_cast<uint32_t>(buffers_.size());
    buffers_.emplace_back();
  }
  buffers_[b].bytes = std::move(record);
  buffers_[b].runs = runs;
  return b;
}

void HeldEvents::AddRun(Run r) {
  r.seq = seq_++;
  r.tid = r.head.tid;
  uint32_t index;
  if (!free_runs_.empty()) {
    index = free_runs_.back();
    free_runs_.pop_back();
    runs_[index] = r;
  } else {
    index = static_cast<uint32_t>(runs_.size());
    runs_.push_back(r);
  }
  // Behind the thread's last run when it begins no earlier than that one ends: every event
  // of that run comes first in the stable order, so this run need not be in the heap yet.
  auto tail = chain_tail_.find(r.tid);
  if (tail != chain_tail_.end() && runs_[tail->second].last_ticks <= r.head.time_ns) {
    runs_[tail->second].next = index;
  } else {
    heap_.push_back(Head{r.head.time_ns, r.seq, index});
    std::push_heap(heap_.begin(), heap_.end(), Later);
  }
  chain_tail_[r.tid] = index;
}

std::vector<uint8_t> HeldEvents::TakeBuffer() {
  if (spare_.empty()) return {};
  std::vector<uint8_t> out = std::move(spare_.back());
  spare_.pop_back();
  out.clear();
  return out;
}

void HeldEvents::Retire(uint32_t run) {
  auto tail = chain_tail_.find(runs_[run].tid);
  if (tail != chain_tail_.end() && tail->second == run) chain_tail_.erase(tail);
  uint32_t b = runs_[run].buffer;
  free_runs_.push_back(run);
  if (--buffers_[b].runs == 0) {
    spare_.push_back(std::move(buffers_[b].bytes));
    buffers_[b].bytes = {};
    free_buffers_.push_back(b);
  }
}

void HeldEvents::SiftDown(size_t i) {
  size_t n = heap_.size();
  Head moving = heap_[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && Later(heap_[child], heap_[child + 1])) ++child;
    if (!Later(moving, heap_[child])) break;
    heap_[i] = heap_[child];
    i = child;
  }
  heap_[i] = moving;
}

void HeldEvents::PopTop() {
  Head& top = heap_.front();
  uint32_t run = top.run;
  uint32_t next = runs_[run].next;
  if (next != kNoRun) {
    top = Head{runs_[next].head.time_ns, runs_[next].seq, next};
  } else {
    top = heap_.back();
    heap_.pop_back();
  }
  if (heap_.size() > 1) SiftDown(0);
  Retire(run);
}

bool HeldEvents::Next(uint64_t up_to, format::Event* event, uint64_t* offset) {
  return NextBatch(up_to, event, 1, offset) == 1;
}

size_t HeldEvents::NextBatch(uint64_t up_to, format::Event* out, size_t max, uint64_t* offset) {
  size_t n = 0;
  while (n < max && !heap_.empty() && heap_.front().ticks <= up_to) {
    Head& top = heap_.front();
    Run& r = runs_[top.run];
    if (n == 0) *offset = r.offset;
    // The top run goes on while its next event still comes before every other run's head
    // (a tie goes to the run added first) and within up_to: ticks up to `bound`.
    uint64_t bound = up_to;
    bool blocked = false;
    size_t heads = heap_.size();
    if (heads > 1) {
      const Head& other = heads > 2 && Later(heap_[1], heap_[2]) ? heap_[2] : heap_[1];
      if (top.seq < other.seq) {
        bound = std::min(bound, other.ticks);
      } else if (other.ticks == 0) {
        blocked = true;
      } else {
        bound = std::min(bound, other.ticks - 1);
      }
    }
    out[n++] = r.head;
    --held_;
    // The events that follow are decoded straight into out[] (a copy of a freshly decoded
    // event, whose fields were stored one by one, stalls on the store forwarding): one that
    // must wait becomes the run's head. Each is checked as it is decoded (a run of a record
    // marked in order was not checked by Add).
    uint64_t previous = r.head.time_ns;
    bool done = r.left == 0, damaged = false;
    while (!done) {
      --r.left;
      const bool to_head = blocked || n == max;
      format::Event& e = to_head ? r.head : out[n];
      if (!DecodeChecked(r, previous, &e)) {
        held_ -= r.left + 1;  // this event and those after it are not handed out
        r.left = 0;
        done = damaged = true;
        break;
      }
      if (to_head) break;
      if (e.time_ns > bound) {
        r.head = e;
        break;
      }
      previous = e.time_ns;
      ++n;
      --held_;
      done = r.left == 0;
    }
    if (damaged || (done && !r.checked && r.p != r.end)) Damaged(r);  // or bytes after its count
    if (done) {
      PopTop();
    } else {
      top.ticks = r.head.time_ns;
      if (heads > 1 && (Later(top, heap_[1]) || (heads > 2 && Later(top, heap_[2])))) SiftDown(0);
    }
  }
  return n;
}

void HeldEvents::Damaged(const Run& r) {
  if (!damaged_ || r.offset < *damaged_) damaged_ = r.offset;
}

void HeldEvents::DropAfter(uint64_t offset) {
  std::vector<Head> kept;
  for (const Head& h : heap_) {
    // A chain's runs were added in file order: from the first past `offset` on, all go.
    uint32_t run = h.run, last_kept = kNoRun;
    while (run != kNoRun && runs_[run].offset <= offset) last_kept = run, run = runs_[run].next;
    if (last_kept != kNoRun) {
      runs_[last_kept].next = kNoRun;
      kept.push_back(h);
    }
    while (run != kNoRun) {
      uint32_t next = runs_[run].next;
      held_ -= runs_[run].left + 1;
      Retire(run);
      run = next;
    }
  }
  heap_ = std::move(kept);
  std::make_heap(heap_.begin(), heap_.end(), Later);
}

}  // namespace allocwatch::report
