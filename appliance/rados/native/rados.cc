// librados for Node.js. Every call returns a Promise and none blocks the JS thread:
// - the data path (write, write at offset, append, read, stat, remove) uses rados_aio_*
//   completions, delivered to the JS thread through one ThreadSafeFunction per cluster that is
//   ref'd only while operations are in flight (an unref'd one lets Node exit with promises
//   pending; a ref'd idle one keeps it alive forever);
// - everything else (connect, pools, mon commands, xattrs, locks, listings) runs as an
//   AsyncWorker on the libuv pool.
// Failures reject with an Error carrying `errno` (positive) and `op`; appliance/rados/errors.ts
// maps them to typed errors with stable codes.
#include <napi.h>
#include <rados/librados.h>
#include <sys/time.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

Napi::Error RadosError(Napi::Env env, const std::string& op, int rc, const std::string& detail = "") {
  const int err = rc < 0 ? -rc : rc;
  std::string message = op + ": " + std::strerror(err);
  if (!detail.empty()) message += " (" + detail + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("op", Napi::String::New(env, op));
  return error;
}

Napi::Promise Rejected(Napi::Env env, const std::string& op, int rc, const std::string& detail = "") {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(RadosError(env, op, rc, detail).Value());
  return deferred.Promise();
}

// Splits librados' NUL-separated string lists.
std::vector<std::string> SplitNul(const char* data, size_t len) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (data[i] != '\0') continue;
    if (i > start) out.emplace_back(data + start, i - start);
    start = i + 1;
  }
  return out;
}

// A blocking librados call run on the libuv pool. `work` returns a librados rc (< 0 is -errno)
// and fills state that `result` turns into the JS value on the main thread. `keep` holds JS
// objects (the cluster, the pool context) alive until the call settles.
class Job : public Napi::AsyncWorker {
 public:
  using Work = std::function<int(std::string& detail)>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise Run(Napi::Env env, const char* op, std::vector<Napi::Object> keep, Work work,
                           Result result = nullptr) {
    auto* job = new Job(env, op, std::move(keep), std::move(work), std::move(result));
    Napi::Promise promise = job->deferred_.Promise();
    job->Queue();
    return promise;
  }

 protected:
  void Execute() override { rc_ = work_(detail_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (rc_ < 0) {
      deferred_.Reject(RadosError(env, op_, rc_, detail_).Value());
      return;
    }
    try {
      deferred_.Resolve(result_ ? result_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Job(Napi::Env env, const char* op, std::vector<Napi::Object> keep, Work work, Result result)
      : Napi::AsyncWorker(env, op),
        deferred_(Napi::Promise::Deferred::New(env)),
        op_(op),
        work_(std::move(work)),
        result_(std::move(result)) {
    for (auto& object : keep) keep_.push_back(Napi::Persistent(object));
  }

  Napi::Promise::Deferred deferred_;
  std::string op_;
  std::vector<Napi::ObjectReference> keep_;
  Work work_;
  Result result_;
  int rc_ = 0;
  std::string detail_;
};

struct AddonData {
  Napi::FunctionReference ioctxClass;
};

// A pool context's handle, shared by its JS object and its cluster (which closes every open
// one on shutdown). `open` is only read and written on the JS thread.
struct IoState {
  rados_ioctx_t io = nullptr;
  std::string ns;
  bool open = false;
};

class Cluster : public Napi::ObjectWrap<Cluster> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Cluster",
                       {
                           InstanceMethod<&Cluster::Connect>("connect"),
                           InstanceMethod<&Cluster::Shutdown>("shutdown"),
                           InstanceMethod<&Cluster::PoolCreate>("poolCreate"),
                           InstanceMethod<&Cluster::PoolDelete>("poolDelete"),
                           InstanceMethod<&Cluster::PoolList>("poolList"),
                           InstanceMethod<&Cluster::MonCommand>("monCommand"),
                           InstanceMethod<&Cluster::OsdCommand>("osdCommand"),
                           InstanceMethod<&Cluster::Addresses>("addresses"),
                           InstanceMethod<&Cluster::InstanceId>("instanceId"),
                           InstanceMethod<&Cluster::WaitForLatestOsdmap>("waitForLatestOsdmap"),
                           InstanceMethod<&Cluster::OpenIoctx>("openIoctx"),
                       });
  }

  explicit Cluster(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Cluster>(info) {
    Napi::Env env = info.Env();
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                          "rados-aio", 0, 1);
    tsfn_.Unref(env);
  }

  // Called on the JS thread around every aio operation.
  void Hold(Napi::Env env) {
    if (inflight_++ == 0) tsfn_.Ref(env);
  }
  void Let(Napi::Env env) {
    if (--inflight_ == 0) tsfn_.Unref(env);
  }
  Napi::ThreadSafeFunction& Tsfn() { return tsfn_; }
  bool Usable() const { return state_ == State::Connected; }
  rados_t Handle() const { return handle_; }
  void Track(std::shared_ptr<IoState> io) { ioctxs_.push_back(std::move(io)); }

 private:
  enum class State { Fresh, Connecting, Connected, Closed };

  Napi::Value NotConnected(Napi::Env env, const char* op) {
    return Rejected(env, op, ENOTCONN, state_ == State::Closed ? "the cluster handle is shut down" : "the cluster handle is not connected");
  }

  // connect(conf, keyring, clientName, options: Record<string, string>)
  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_ != State::Fresh) return Rejected(env, "connect", EISCONN, "a cluster handle connects once");
    std::string conf = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    std::string keyring = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    std::string name = info[2].As<Napi::String>().Utf8Value();
    std::vector<std::pair<std::string, std::string>> options;
    if (info[3].IsObject()) {
      Napi::Object object = info[3].As<Napi::Object>();
      Napi::Array keys = object.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); i++) {
        std::string key = keys.Get(i).ToString().Utf8Value();
        options.emplace_back(key, object.Get(key).ToString().Utf8Value());
      }
    }
    state_ = State::Connecting;
    return Job::Run(
        env, "connect", {Value()},
        [this, conf, keyring, name, options](std::string& detail) {
          rados_t handle = nullptr;
          int rc = rados_create2(&handle, "ceph", name.c_str(), 0);
          if (rc < 0) return detail = "rados_create2 " + name, rc;
          rc = rados_conf_read_file(handle, conf.empty() ? nullptr : conf.c_str());
          if (rc < 0) detail = "reading " + (conf.empty() ? std::string("the default ceph.conf") : conf);
          if (rc >= 0 && !keyring.empty()) rc = rados_conf_set(handle, "keyring", keyring.c_str());
          for (const auto& [key, value] : options) {
            if (rc < 0) break;
            rc = rados_conf_set(handle, key.c_str(), value.c_str());
            if (rc < 0) detail = "option " + key;
          }
          if (rc >= 0) rc = rados_connect(handle);
          if (rc < 0) {
            rados_shutdown(handle);
            return rc;
          }
          handle_ = handle;
          return 0;
        },
        [this](Napi::Env env) {
          state_ = handle_ ? State::Connected : State::Fresh;
          return env.Undefined();
        });
  }

  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_ != State::Connected) {
      state_ = State::Closed;
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Resolve(env.Undefined());
      return deferred.Promise();
    }
    state_ = State::Closed;
    std::vector<rados_ioctx_t> open;
    for (auto& io : ioctxs_) {
      if (io->open) open.push_back(io->io);
      io->open = false;
    }
    ioctxs_.clear();
    rados_t handle = handle_;
    handle_ = nullptr;
    return Job::Run(env, "shutdown", {Value()}, [open, handle](std::string&) {
      for (rados_ioctx_t io : open) {
        rados_aio_flush(io);
        rados_ioctx_destroy(io);
      }
      rados_shutdown(handle);
      return 0;
    });
  }

  Napi::Value PoolCreate(const Napi::CallbackInfo& info) {
    if (!Usable()) return NotConnected(info.Env(), "poolCreate");
    std::string pool = info[0].As<Napi::String>().Utf8Value();
    rados_t h = handle_;
    return Job::Run(info.Env(), "poolCreate", {Value()}, [h, pool](std::string& detail) {
      detail = pool;
      return rados_pool_create(h, pool.c_str());
    });
  }

  Napi::Value PoolDelete(const Napi::CallbackInfo& info) {
    if (!Usable()) return NotConnected(info.Env(), "poolDelete");
    std::string pool = info[0].As<Napi::String>().Utf8Value();
    rados_t h = handle_;
    return Job::Run(info.Env(), "poolDelete", {Value()}, [h, pool](std::string& detail) {
      detail = pool;
      return rados_pool_delete(h, pool.c_str());
    });
  }

  Napi::Value PoolList(const Napi::CallbackInfo& info) {
    if (!Usable()) return NotConnected(info.Env(), "poolList");
    rados_t h = handle_;
    auto names = std::make_shared<std::vector<std::string>>();
    return Job::Run(
        info.Env(), "poolList", {Value()},
        [h, names](std::string&) {
          std::vector<char> buffer(4096);
          for (;;) {
            int rc = rados_pool_list(h, buffer.data(), buffer.size());
            if (rc < 0) return rc;
            if (static_cast<size_t>(rc) <= buffer.size()) {
              *names = SplitNul(buffer.data(), rc);
              return 0;
            }
            buffer.resize(rc);
          }
        },
        [names](Napi::Env env) {
          Napi::Array out = Napi::Array::New(env, names->size());
          for (size_t i = 0; i < names->size(); i++) out.Set(i, (*names)[i]);
          return out;
        });
  }

  // monCommand(json, inbuf?: Buffer) → { outbuf: Buffer, outs: string }; a failure's `outs` goes
  // in the message. `inbuf` is the command's input (what `ceph … -i FILE` sends, e.g. `osd new`'s
  // cephx secret JSON).
  Napi::Value MonCommand(const Napi::CallbackInfo& info) {
    std::string inbuf;
    if (info.Length() > 1 && info[1].IsBuffer()) {
      auto data = info[1].As<Napi::Buffer<char>>();
      inbuf.assign(data.Data(), data.Length());
    }
    return Command(info, "monCommand", -1, info[0], std::move(inbuf));
  }

  // osdCommand(osd, json) → { outbuf: Buffer, outs: string }: a command to one OSD (`ceph tell osd.N`).
  Napi::Value OsdCommand(const Napi::CallbackInfo& info) {
    return Command(info, "osdCommand", info[0].As<Napi::Number>().Int32Value(), info[1], "");
  }

  // A monitor command (osd < 0) or an OSD's, with its JSON text and input.
  Napi::Value Command(const Napi::CallbackInfo& info, const char* name, int osd, Napi::Value json, std::string inbuf) {
    if (!Usable()) return NotConnected(info.Env(), name);
    std::string command = json.As<Napi::String>().Utf8Value();
    rados_t h = handle_;
    struct Out {
      std::string outbuf, outs;
    };
    auto out = std::make_shared<Out>();
    return Job::Run(
        info.Env(), name, {Value()},
        [h, command, inbuf, osd, out](std::string& detail) {
          const char* cmd[] = {command.c_str()};
          char *outbuf = nullptr, *outs = nullptr;
          size_t outbufLen = 0, outsLen = 0;
          int rc = osd < 0 ? rados_mon_command(h, cmd, 1, inbuf.data(), inbuf.size(), &outbuf, &outbufLen, &outs,
                                               &outsLen)
                           : rados_osd_command(h, osd, cmd, 1, "", 0, &outbuf, &outbufLen, &outs, &outsLen);
          if (outbuf) out->outbuf.assign(outbuf, outbufLen);
          if (outs) out->outs.assign(outs, outsLen);
          rados_buffer_free(outbuf);
          rados_buffer_free(outs);
          if (rc < 0) detail = out->outs.empty() ? command : out->outs;
          return rc;
        },
        [out](Napi::Env env) {
          Napi::Object result = Napi::Object::New(env);
          result.Set("outbuf", Napi::Buffer<char>::Copy(env, out->outbuf.data(), out->outbuf.size()));
          result.Set("outs", out->outs);
          return result;
        });
  }

  // This client's own addresses, as the cluster sees them (what a fencer would blocklist).
  Napi::Value Addresses(const Napi::CallbackInfo& info) {
    if (!Usable()) return NotConnected(info.Env(), "addresses");
    rados_t h = handle_;
    auto text = std::make_shared<std::string>();
    return Job::Run(
        info.Env(), "addresses", {Value()},
        [h, text](std::string&) {
          char* addrs = nullptr;
          int rc = rados_getaddrs(h, &addrs);
          if (rc >= 0 && addrs) *text = addrs;
          rados_buffer_free(addrs);
          return rc;
        },
        [text](Napi::Env env) { return Napi::String::New(env, *text); });
  }

  Napi::Value InstanceId(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable()) return NotConnected(env, "instanceId");
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Resolve(Napi::BigInt::New(env, rados_get_instance_id(handle_)));
    return deferred.Promise();
  }

  Napi::Value WaitForLatestOsdmap(const Napi::CallbackInfo& info) {
    if (!Usable()) return NotConnected(info.Env(), "waitForLatestOsdmap");
    rados_t h = handle_;
    return Job::Run(info.Env(), "waitForLatestOsdmap", {Value()},
                    [h](std::string&) { return rados_wait_for_latest_osdmap(h); });
  }

  // openIoctx(pool, namespace) → IoCtx
  Napi::Value OpenIoctx(const Napi::CallbackInfo& info);

  rados_t handle_ = nullptr;
  State state_ = State::Fresh;
  Napi::ThreadSafeFunction tsfn_;
  size_t inflight_ = 0;
  std::vector<std::shared_ptr<IoState>> ioctxs_;
};

class IoCtx;

// One rados_aio_* operation in flight.
struct Aio {
  enum class Kind { Plain, Read, Stat };
  Aio(Napi::Env env, Cluster* cluster, Napi::Object owner, const char* op, std::string oid, Kind kind)
      : cluster(cluster), owner(Napi::Persistent(owner)), deferred(Napi::Promise::Deferred::New(env)), op(op),
        oid(std::move(oid)), kind(kind) {}
  ~Aio() {
    if (readOp) rados_release_read_op(readOp);
    std::free(buffer);
  }

  Cluster* cluster;
  Napi::ObjectReference owner;  // the IoCtx, which holds its cluster
  Napi::Promise::Deferred deferred;
  const char* op;
  std::string oid;
  Kind kind;
  rados_completion_t completion = nullptr;
  char* buffer = nullptr;
  rados_read_op_t readOp = nullptr;
  size_t bytesRead = 0;
  int readRc = 0;
  uint64_t size = 0;
  time_t mtime = 0;
};

// JS thread: settle the promise of a finished operation.
void Settle(Napi::Env env, Napi::Function, Aio* aio) {
  int rc = rados_aio_get_return_value(aio->completion);
  rados_aio_release(aio->completion);
  // A read operation's own result, and the bytes it read.
  if (aio->kind == Aio::Kind::Read && rc >= 0) {
    rc = aio->readRc < 0 ? aio->readRc : static_cast<int>(aio->bytesRead);
  }
  if (env != nullptr) {
    aio->cluster->Let(env);
    if (rc < 0) {
      aio->deferred.Reject(RadosError(env, aio->op, rc, aio->oid).Value());
    } else if (aio->kind == Aio::Kind::Read) {
      if (rc == 0) {
        aio->deferred.Resolve(Napi::Buffer<char>::New(env, 0));
      } else {
        char* data = aio->buffer;
        aio->buffer = nullptr;
        aio->deferred.Resolve(Napi::Buffer<char>::New(env, data, rc, [](Napi::Env, char* d) { std::free(d); }));
      }
    } else if (aio->kind == Aio::Kind::Stat) {
      Napi::Object stat = Napi::Object::New(env);
      stat.Set("size", Napi::Number::New(env, static_cast<double>(aio->size)));
      stat.Set("mtime", Napi::Number::New(env, static_cast<double>(aio->mtime) * 1000));
      aio->deferred.Resolve(stat);
    } else {
      aio->deferred.Resolve(env.Undefined());
    }
  }
  delete aio;
}

// librados finisher thread: hand the finished operation to the JS thread.
void OnComplete(rados_completion_t, void* arg) {
  auto* aio = static_cast<Aio*>(arg);
  aio->cluster->Tsfn().NonBlockingCall(aio, Settle);
}

class IoCtx : public Napi::ObjectWrap<IoCtx> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "IoCtx",
                       {
                           InstanceMethod<&IoCtx::WriteFull>("writeFull"),
                           InstanceMethod<&IoCtx::Write>("write"),
                           InstanceMethod<&IoCtx::Append>("append"),
                           InstanceMethod<&IoCtx::Read>("read"),
                           InstanceMethod<&IoCtx::Stat>("stat"),
                           InstanceMethod<&IoCtx::Remove>("remove"),
                           InstanceMethod<&IoCtx::List>("list"),
                           InstanceMethod<&IoCtx::GetXattr>("getXattr"),
                           InstanceMethod<&IoCtx::SetXattr>("setXattr"),
                           InstanceMethod<&IoCtx::RmXattr>("rmXattr"),
                           InstanceMethod<&IoCtx::GetXattrs>("getXattrs"),
                           InstanceMethod<&IoCtx::Lock>("lock"),
                           InstanceMethod<&IoCtx::Unlock>("unlock"),
                           InstanceMethod<&IoCtx::BreakLock>("breakLock"),
                           InstanceMethod<&IoCtx::ListLockers>("listLockers"),
                           InstanceMethod<&IoCtx::Close>("close"),
                       });
  }

  explicit IoCtx(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IoCtx>(info) {}

  void Init(Napi::Object cluster, std::shared_ptr<IoState> state) {
    clusterRef_ = Napi::Persistent(cluster);
    cluster_ = Cluster::Unwrap(cluster);
    state_ = std::move(state);
  }

 private:
  bool Usable() const { return state_ && state_->open && cluster_->Usable(); }
  Napi::Value Closed(Napi::Env env, const char* op) {
    return Rejected(env, op, ENOTCONN, "the pool context is closed");
  }

  using Start = std::function<int(rados_ioctx_t, const char* oid, rados_completion_t, Aio*)>;
  Napi::Value Submit(const Napi::CallbackInfo& info, const char* op, Aio::Kind kind, const Start& start) {
    Napi::Env env = info.Env();
    if (!Usable()) return Closed(env, op);
    auto* aio = new Aio(env, cluster_, Value(), op, info[0].As<Napi::String>().Utf8Value(), kind);
    Napi::Promise promise = aio->deferred.Promise();
    int rc = rados_aio_create_completion2(aio, OnComplete, &aio->completion);
    if (rc >= 0) rc = start(state_->io, aio->oid.c_str(), aio->completion, aio);
    if (rc < 0) {
      if (aio->completion) rados_aio_release(aio->completion);
      aio->deferred.Reject(RadosError(env, op, rc, aio->oid).Value());
      delete aio;
      return promise;
    }
    cluster_->Hold(env);
    return promise;
  }

  static uint64_t Offset(const Napi::Value& value) {
    return static_cast<uint64_t>(value.As<Napi::Number>().Int64Value());
  }

  // writeFull(oid, data)
  Napi::Value WriteFull(const Napi::CallbackInfo& info) {
    auto data = info[1].As<Napi::Buffer<char>>();
    return Submit(info, "writeFull", Aio::Kind::Plain, [&](rados_ioctx_t io, const char* oid, rados_completion_t c, Aio*) {
      return rados_aio_write_full(io, oid, c, data.Data(), data.Length());
    });
  }

  // write(oid, data, offset)
  Napi::Value Write(const Napi::CallbackInfo& info) {
    auto data = info[1].As<Napi::Buffer<char>>();
    const uint64_t offset = Offset(info[2]);
    return Submit(info, "write", Aio::Kind::Plain, [&](rados_ioctx_t io, const char* oid, rados_completion_t c, Aio*) {
      return rados_aio_write(io, oid, c, data.Data(), data.Length(), offset);
    });
  }

  // append(oid, data)
  Napi::Value Append(const Napi::CallbackInfo& info) {
    auto data = info[1].As<Napi::Buffer<char>>();
    return Submit(info, "append", Aio::Kind::Plain, [&](rados_ioctx_t io, const char* oid, rados_completion_t c, Aio*) {
      return rados_aio_append(io, oid, c, data.Data(), data.Length());
    });
  }

  // read(oid, length, offset) → Buffer (shorter at the end of the object). A read operation,
  // not rados_aio_read: with msgr2 in secure mode the reply's data can arrive in several
  // buffers, which rados_aio_read (librados 16, C_aio_Complete) fails with ERANGE when it was
  // given the caller's buffer, while a read operation copies them into it (C_bl_to_buf).
  Napi::Value Read(const Napi::CallbackInfo& info) {
    const size_t length = static_cast<size_t>(Offset(info[1]));
    const uint64_t offset = Offset(info[2]);
    return Submit(info, "read", Aio::Kind::Read, [&](rados_ioctx_t io, const char* oid, rados_completion_t c, Aio* aio) {
      aio->buffer = static_cast<char*>(std::malloc(length > 0 ? length : 1));
      if (!aio->buffer) return -ENOMEM;
      aio->readOp = rados_create_read_op();
      if (!aio->readOp) return -ENOMEM;
      rados_read_op_read(aio->readOp, offset, length, aio->buffer, &aio->bytesRead, &aio->readRc);
      return rados_aio_read_op_operate(aio->readOp, io, c, oid, LIBRADOS_OPERATION_NOFLAG);
    });
  }

  // stat(oid) → { size, mtime (ms) }
  Napi::Value Stat(const Napi::CallbackInfo& info) {
    return Submit(info, "stat", Aio::Kind::Stat, [&](rados_ioctx_t io, const char* oid, rados_completion_t c, Aio* aio) {
      return rados_aio_stat(io, oid, c, &aio->size, &aio->mtime);
    });
  }

  Napi::Value Remove(const Napi::CallbackInfo& info) {
    return Submit(info, "remove", Aio::Kind::Plain, [&](rados_ioctx_t io, const char* oid, rados_completion_t c, Aio*) {
      return rados_aio_remove(io, oid, c);
    });
  }

  // A blocking call on this pool context, run on the libuv pool.
  Napi::Value Blocking(const Napi::CallbackInfo& info, const char* op, Job::Work work, Job::Result result = nullptr) {
    if (!Usable()) return Closed(info.Env(), op);
    return Job::Run(info.Env(), op, {Value()}, std::move(work), std::move(result));
  }

  // list(allNamespaces) → [{ oid, namespace }] of this context's namespace, or of every one.
  Napi::Value List(const Napi::CallbackInfo& info) {
    if (!Usable()) return Closed(info.Env(), "list");
    const bool all = info[0].ToBoolean();
    rados_t cluster = cluster_->Handle();
    const int64_t pool = rados_ioctx_get_id(state_->io);
    const std::string ns = state_->ns;
    auto entries = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
    return Blocking(
        info, "list",
        [cluster, pool, ns, all, entries](std::string&) {
          // A private context, so that the listing's namespace does not race the shared one's aio.
          rados_ioctx_t io = nullptr;
          int rc = rados_ioctx_create2(cluster, pool, &io);
          if (rc < 0) return rc;
          rados_ioctx_set_namespace(io, all ? LIBRADOS_ALL_NSPACES : ns.c_str());
          rados_list_ctx_t ctx = nullptr;
          rc = rados_nobjects_list_open(io, &ctx);
          while (rc >= 0) {
            const char *entry = nullptr, *key = nullptr, *nspace = nullptr;
            rc = rados_nobjects_list_next(ctx, &entry, &key, &nspace);
            if (rc == -ENOENT) {
              rc = 0;
              break;
            }
            if (rc >= 0) entries->emplace_back(entry, nspace ? nspace : "");
          }
          if (ctx) rados_nobjects_list_close(ctx);
          rados_ioctx_destroy(io);
          return rc;
        },
        [entries](Napi::Env env) {
          Napi::Array out = Napi::Array::New(env, entries->size());
          for (size_t i = 0; i < entries->size(); i++) {
            Napi::Object item = Napi::Object::New(env);
            item.Set("oid", (*entries)[i].first);
            item.Set("namespace", (*entries)[i].second);
            out.Set(i, item);
          }
          return out;
        });
  }

  // getXattr(oid, name) → Buffer
  Napi::Value GetXattr(const Napi::CallbackInfo& info) {
    if (!Usable()) return Closed(info.Env(), "getXattr");
    rados_ioctx_t io = state_->io;
    std::string oid = info[0].As<Napi::String>().Utf8Value();
    std::string name = info[1].As<Napi::String>().Utf8Value();
    auto value = std::make_shared<std::string>();
    return Blocking(
        info, "getXattr",
        [io, oid, name, value](std::string& detail) {
          detail = oid + " " + name;
          std::vector<char> buffer(4096);
          for (;;) {
            int rc = rados_getxattr(io, oid.c_str(), name.c_str(), buffer.data(), buffer.size());
            if (rc == -ERANGE && buffer.size() < (64u << 20)) {
              buffer.resize(buffer.size() * 4);
              continue;
            }
            if (rc >= 0) value->assign(buffer.data(), rc);
            return rc;
          }
        },
        [value](Napi::Env env) { return Napi::Buffer<char>::Copy(env, value->data(), value->size()); });
  }

  // setXattr(oid, name, Buffer)
  Napi::Value SetXattr(const Napi::CallbackInfo& info) {
    if (!Usable()) return Closed(info.Env(), "setXattr");
    rados_ioctx_t io = state_->io;
    std::string oid = info[0].As<Napi::String>().Utf8Value();
    std::string name = info[1].As<Napi::String>().Utf8Value();
    auto data = info[2].As<Napi::Buffer<char>>();
    std::string value(data.Data(), data.Length());
    return Blocking(info, "setXattr", [io, oid, name, value](std::string& detail) {
      detail = oid + " " + name;
      return rados_setxattr(io, oid.c_str(), name.c_str(), value.data(), value.size());
    });
  }

  Napi::Value RmXattr(const Napi::CallbackInfo& info) {
    if (!Usable()) return Closed(info.Env(), "rmXattr");
    rados_ioctx_t io = state_->io;
    std::string oid = info[0].As<Napi::String>().Utf8Value();
    std::string name = info[1].As<Napi::String>().Utf8Value();
    return Blocking(info, "rmXattr", [io, oid, name](std::string& detail) {
      detail = oid + " " + name;
      return rados_rmxattr(io, oid.c_str(), name.c_str());
    });
  }

  // getXattrs(oid) → { name: Buffer }
  Napi::Value GetXattrs(const Napi::CallbackInfo& info) {
    if (!Usable()) return Closed(info.Env(), "getXattrs");
    rados_ioctx_t io = state_->io;
    std::string oid = info[0].As<Napi::String>().Utf8Value();
    auto pairs = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
    return Blocking(
        info, "getXattrs",
        [io, oid, pairs](std::string& detail) {
          detail = oid;
          rados_xattrs_iter_t iter = nullptr;
          int rc = rados_getxattrs(io, oid.c_str(), &iter);
          if (rc < 0) return rc;
          for (;;) {
            const char *name = nullptr, *value = nullptr;
            size_t length = 0;
            rc = rados_getxattrs_next(iter, &name, &value, &length);
            if (rc < 0 || name == nullptr) break;
            pairs->emplace_back(name, std::string(value, length));
          }
          rados_getxattrs_end(iter);
          return rc;
        },
        [pairs](Napi::Env env) {
          Napi::Object out = Napi::Object::New(env);
          for (const auto& [name, value] : *pairs) out.Set(name, Napi::Buffer<char>::Copy(env, value.data(), value.size()));
          return out;
        });
  }

  // lock(oid, name, cookie, { exclusive, tag, description, durationMs, renew })
  Napi::Value Lock(const Napi::CallbackInfo& info) {
    if (!Usable()) return Closed(info.Env(), "lock");
    rados_ioctx_t io = state_->io;
    std::string oid = info[0].As<Napi::String>().Utf8Value();
    std::string name = info[1].As<Napi::String>().Utf8Value();
    std::string cookie = info[2].As<Napi::String>().Utf8Value();
    Napi::Object options = info[3].As<Napi::Object>();
    const bool exclusive = options.Get("exclusive").ToBoolean();
    std::string tag = options.Get("tag").ToString().Utf8Value();
    std::string description = options.Get("description").ToString().Utf8Value();
    const int64_t durationMs = options.Get("durationMs").ToNumber().Int64Value();
    const uint8_t flags = options.Get("renew").ToBoolean() ? LIBRADOS_LOCK_FLAG_MAY_RENEW : 0;
    return Blocking(info, "lock", [=](std::string& detail) {
      detail = oid + " " + name;
      struct timeval duration = {static_cast<time_t>(durationMs / 1000),
                                 static_cast<suseconds_t>((durationMs % 1000) * 1000)};
      struct timeval* forever = durationMs > 0 ? &duration : nullptr;
      return exclusive ? rados_lock_exclusive(io, oid.c_str(), name.c_str(), cookie.c_str(), description.c_str(),
                                              forever, flags)
                       : rados_lock_shared(io, oid.c_str(), name.c_str(), cookie.c_str(), tag.c_str(),
                                           description.c_str(), forever, flags);
    });
  }

  // unlock(oid, name, cookie)
  Napi::Value Unlock(const Napi::CallbackInfo& info) {
    if (!Usable()) return Closed(info.Env(), "unlock");
    rados_ioctx_t io = state_->io;
    std::string oid = info[0].As<Napi::String>().Utf8Value();
    std::string name = info[1].As<Napi::String>().Utf8Value();
    std::string cookie = info[2].As<Napi::String>().Utf8Value();
    return Blocking(info, "unlock", [=](std::string& detail) {
      detail = oid + " " + name;
      return rados_unlock(io, oid.c_str(), name.c_str(), cookie.c_str());
    });
  }

  // breakLock(oid, name, client, cookie)
  Napi::Value BreakLock(const Napi::CallbackInfo& info) {
    if (!Usable()) return Closed(info.Env(), "breakLock");
    rados_ioctx_t io = state_->io;
    std::string oid = info[0].As<Napi::String>().Utf8Value();
    std::string name = info[1].As<Napi::String>().Utf8Value();
    std::string client = info[2].As<Napi::String>().Utf8Value();
    std::string cookie = info[3].As<Napi::String>().Utf8Value();
    return Blocking(info, "breakLock", [=](std::string& detail) {
      detail = oid + " " + name + " held by " + client;
      return rados_break_lock(io, oid.c_str(), name.c_str(), client.c_str(), cookie.c_str());
    });
  }

  // listLockers(oid, name) → { exclusive, tag, lockers: [{ client, cookie, address }] }
  Napi::Value ListLockers(const Napi::CallbackInfo& info) {
    if (!Usable()) return Closed(info.Env(), "listLockers");
    rados_ioctx_t io = state_->io;
    std::string oid = info[0].As<Napi::String>().Utf8Value();
    std::string name = info[1].As<Napi::String>().Utf8Value();
    struct Out {
      bool exclusive = false;
      std::string tag;
      std::vector<std::string> clients, cookies, addresses;
    };
    auto out = std::make_shared<Out>();
    return Blocking(
        info, "listLockers",
        [io, oid, name, out](std::string& detail) {
          detail = oid + " " + name;
          size_t tagLen = 256, clientsLen = 1024, cookiesLen = 1024, addrsLen = 1024;
          for (int attempt = 0; attempt < 8; attempt++) {
            std::vector<char> tag(tagLen), clients(clientsLen), cookies(cookiesLen), addrs(addrsLen);
            int exclusive = 0;
            ssize_t rc = rados_list_lockers(io, oid.c_str(), name.c_str(), &exclusive, tag.data(), &tagLen,
                                            clients.data(), &clientsLen, cookies.data(), &cookiesLen, addrs.data(),
                                            &addrsLen);
            if (rc == -ERANGE) continue;  // librados has set the lengths it needs
            if (rc < 0) return static_cast<int>(rc);
            out->exclusive = exclusive != 0;
            out->tag = SplitNul(tag.data(), tagLen).empty() ? "" : SplitNul(tag.data(), tagLen)[0];
            out->clients = SplitNul(clients.data(), clientsLen);
            out->cookies = SplitNul(cookies.data(), cookiesLen);
            out->addresses = SplitNul(addrs.data(), addrsLen);
            return 0;
          }
          return -ERANGE;
        },
        [out](Napi::Env env) {
          Napi::Object result = Napi::Object::New(env);
          result.Set("exclusive", out->exclusive);
          result.Set("tag", out->tag);
          const size_t n = out->clients.size();
          Napi::Array lockers = Napi::Array::New(env, n);
          for (size_t i = 0; i < n; i++) {
            Napi::Object locker = Napi::Object::New(env);
            locker.Set("client", out->clients[i]);
            locker.Set("cookie", i < out->cookies.size() ? out->cookies[i] : "");
            locker.Set("address", i < out->addresses.size() ? out->addresses[i] : "");
            lockers.Set(i, locker);
          }
          result.Set("lockers", lockers);
          return result;
        });
  }

  // close(): waits for this context's operations, then releases it.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!state_ || !state_->open) {
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Resolve(env.Undefined());
      return deferred.Promise();
    }
    state_->open = false;
    rados_ioctx_t io = state_->io;
    return Job::Run(env, "close", {Value()}, [io](std::string&) {
      rados_aio_flush(io);
      rados_ioctx_destroy(io);
      return 0;
    });
  }

  Napi::ObjectReference clusterRef_;
  Cluster* cluster_ = nullptr;
  std::shared_ptr<IoState> state_;
};

Napi::Value Cluster::OpenIoctx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable()) return NotConnected(env, "openIoctx");
  std::string pool = info[0].As<Napi::String>().Utf8Value();
  std::string ns = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  rados_t h = handle_;
  auto state = std::make_shared<IoState>();
  state->ns = ns;
  return Job::Run(
      env, "openIoctx", {Value()},
      [h, pool, ns, state](std::string& detail) {
        detail = "pool " + pool;
        int rc = rados_ioctx_create(h, pool.c_str(), &state->io);
        if (rc >= 0) rados_ioctx_set_namespace(state->io, ns.c_str());
        return rc;
      },
      [this, state](Napi::Env env) -> Napi::Value {
        if (state_ != State::Connected) {
          rados_ioctx_destroy(state->io);
          throw RadosError(env, "openIoctx", ENOTCONN, "the cluster handle was shut down");
        }
        state->open = true;
        Track(state);
        Napi::Object object = env.GetInstanceData<AddonData>()->ioctxClass.New({});
        IoCtx::Unwrap(object)->Init(Value(), state);
        return object;
      });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->ioctxClass = Napi::Persistent(IoCtx::Define(env));
  env.SetInstanceData(data);
  exports.Set("Cluster", Cluster::Define(env));
  int major = 0, minor = 0, extra = 0;
  rados_version(&major, &minor, &extra);
  exports.Set("libradosVersion", Napi::String::New(env, std::to_string(major) + "." + std::to_string(minor) + "." +
                                                            std::to_string(extra)));
  return exports;
}

}  // namespace

NODE_API_MODULE(rados, Init)
