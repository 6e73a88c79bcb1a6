using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PcieEmu.Interop;

/// <summary>
/// recvmsg/sendmsg with SCM_RIGHTS over a stream socket. One call per chunk received and one per message sent
/// (send(2) when there is one buffer and no fd); every received fd becomes a SafeFileHandle before this method
/// returns, owned by the caller. The calls reference the socket's SafeHandle for their duration (except
/// <see cref="SendAndReceive"/>, whose caller holds that reference), block, retry on EINTR, and report failure as a
/// negative errno rather than an exception (only a handle already closed throws, <see cref="ObjectDisposedException"/>).
/// Sends use MSG_NOSIGNAL: a closed peer is -EPIPE, never SIGPIPE.
/// </summary>
public static class UnixMessaging
{
    /// <summary>
    /// Bytes of control buffer needed to receive <paramref name="maxFds"/> fds (at least one) in one cmsg: the size of
    /// the <c>control</c> buffer to pass to <see cref="Receive(SafeHandle, Span{byte}, Span{byte}, List{SafeFileHandle}, out bool)"/>.
    /// </summary>
    public static int ControlBufferSize(int maxFds) => Cmsg.Space(sizeof(int) * Math.Max(maxFds, 1));

    /// <summary>
    /// One recvmsg into <paramref name="buffer"/>. Returns the byte count (0 = orderly EOF) or -errno.
    /// Received fds are appended to <paramref name="fds"/> as owned handles; <paramref name="controlTruncated"/>
    /// reports MSG_CTRUNC (the kernel dropped fds because the sender sent more than we can take).
    /// Non-SCM_RIGHTS control messages are ignored (there is nothing else a peer can legitimately send).
    /// </summary>
    public static int Receive(SafeHandle socket, Span<byte> buffer, Span<byte> control,
        List<SafeFileHandle> fds, out bool controlTruncated)
    {
        bool added = false;
        socket.DangerousAddRef(ref added);
        try
        {
            return Receive((int)socket.DangerousGetHandle(), buffer, control, fds, out controlTruncated);
        }
        finally
        {
            socket.DangerousRelease();
        }
    }

    /// <summary>
    /// <see cref="Receive(SafeHandle, Span{byte}, Span{byte}, List{SafeFileHandle}, out bool)"/> on a raw descriptor
    /// whose SafeHandle the caller keeps referenced. No exception region surrounds the call, so its P/Invoke transition
    /// is inlined (inside a try region the JIT falls back to the slower generic helpers).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static unsafe int Receive(int socket, Span<byte> buffer, Span<byte> control,
        List<SafeFileHandle> fds, out bool controlTruncated)
    {
        controlTruncated = false;
        fixed (byte* data = buffer)
        fixed (byte* ctl = control)
        {
            var iov = new iovec { iov_base = data, iov_len = (nuint)buffer.Length };
            var msg = new msghdr
            {
                msg_iov = &iov,
                msg_iovlen = 1,
                msg_control = control.Length > 0 ? ctl : null,
                msg_controllen = (nuint)control.Length,
            };
            nint n;
            while (true)
            {
                n = Libc.recvmsg(socket, &msg, Libc.MSG_CMSG_CLOEXEC);
                if (n >= 0)
                {
                    break;
                }

                int err = Libc.LastErrno;
                if (err == Errno.EINTR)
                {
                    continue;
                }

                if (err == Errno.EAGAIN && Poll(socket, Libc.POLLIN, -1))
                {
                    continue;
                }

                return -err;
            }

            controlTruncated = (msg.msg_flags & Libc.MSG_CTRUNC) != 0;
            if (msg.msg_controllen > 0)
            {
                TakeFds(ctl, (int)msg.msg_controllen, fds);
            }

            return (int)n;
        }
    }

    /// <summary>
    /// Sends <paramref name="send"/> (if any) and receives into <paramref name="buffer"/> with ONE system call: a SEND and a
    /// RECVMSG go to <paramref name="ring"/> together and one io_uring_enter submits both and waits for both. The receive
    /// is the same unix_stream_read_generic as recvmsg(2) (same fd semantics). Returns the bytes received (0 = EOF) or
    /// -errno; <paramref name="sendResult"/> is the send's byte count or -errno. Every operation has completed on return.
    /// <paramref name="ring"/> must belong to the calling thread, and <paramref name="socket"/> is a raw descriptor
    /// whose SafeHandle the caller keeps referenced across the call.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static unsafe int SendAndReceive(IoUring ring, int socket, ReadOnlySpan<byte> send, Span<byte> buffer, Span<byte> control,
        List<SafeFileHandle> fds, out bool controlTruncated, out int sendResult)
    {
        const ulong SendTag = 1, ReceiveTag = 2;
        controlTruncated = false;
        sendResult = 0;
        control.Clear(); // the msghdr's msg_controllen is written back, but never trust a stale cmsg header
        fixed (byte* s = send)
        fixed (byte* data = buffer)
        fixed (byte* ctl = control)
        {
            var iov = new iovec { iov_base = data, iov_len = (nuint)buffer.Length };
            var msg = new msghdr
            {
                msg_iov = &iov,
                msg_iovlen = 1,
                msg_control = control.Length > 0 ? ctl : null,
                msg_controllen = (nuint)control.Length,
            };
            uint submit = 0;
            if (!send.IsEmpty)
            {
                ref var sqe = ref ring.Claim();
                sqe.opcode = IoUring.IORING_OP_SEND;
                sqe.fd = socket;
                sqe.addr = (ulong)s;
                sqe.len = (uint)send.Length;
                sqe.msg_flags = Libc.MSG_NOSIGNAL | Libc.MSG_WAITALL;
                sqe.user_data = SendTag;
                submit++;
            }

            ref var rq = ref ring.Claim();
            rq.opcode = IoUring.IORING_OP_RECVMSG;
            rq.fd = socket;
            rq.addr = (ulong)&msg;
            rq.len = 1;
            rq.msg_flags = Libc.MSG_CMSG_CLOEXEC;
            rq.user_data = ReceiveTag;
            submit++;

            uint pending = submit;
            int received = 0;
            int failure = 0;
            for (int failedWaits = 0; failedWaits < 1000;)
            {
                while (ring.TryTakeCompletion(out ulong tag, out int result))
                {
                    pending--;
                    if (tag == SendTag)
                    {
                        sendResult = result;
                    }
                    else
                    {
                        received = result;
                    }
                }

                if (pending == 0)
                {
                    break;
                }

                int entered = ring.Enter(submit, pending);
                if (entered >= 0)
                {
                    submit = 0;
                }
                else if (entered != -Errno.EINTR)
                {
                    // Cannot wait: make the receive complete at once (end of stream), then collect both before leaving,
                    // since the kernel holds pointers into this frame until they complete.
                    if (failure == 0)
                    {
                        failure = entered;
                        Libc.shutdown(socket, Libc.SHUT_RDWR);
                    }

                    failedWaits++;
                    Thread.Sleep(1);
                }
            }

            if (failure != 0)
            {
                return failure;
            }

            if (received < 0)
            {
                return received;
            }

            controlTruncated = (msg.msg_flags & Libc.MSG_CTRUNC) != 0;
            if (msg.msg_controllen > 0)
            {
                TakeFds(ctl, (int)Math.Min(msg.msg_controllen, (nuint)control.Length), fds);
            }

            return received;
        }
    }

    private static unsafe void TakeFds(byte* ctl, int controlLength, List<SafeFileHandle> fds)
    {
        int offset = 0;
        while (offset + Cmsg.HeaderSize <= controlLength)
        {
            var header = (cmsghdr*)(ctl + offset);
            int len = (int)header->cmsg_len;
            if (len < Cmsg.HeaderSize || offset + len > controlLength)
            {
                break;
            }

            if (header->cmsg_level == Libc.SOL_SOCKET && header->cmsg_type == Libc.SCM_RIGHTS)
            {
                int count = (len - Cmsg.HeaderSize) / sizeof(int);
                var fdData = (int*)(ctl + offset + Cmsg.HeaderSize);
                for (int i = 0; i < count; i++)
                {
                    fds.Add(FileDescriptors.Own(fdData[i]));
                }
            }

            offset += Cmsg.AlignUp(len);
        }
    }

    /// <summary>
    /// Sends <paramref name="first"/> then <paramref name="second"/> with <paramref name="fds"/> attached to the first
    /// byte, in one sendmsg (more only if the kernel accepts a partial write). Returns 0 once every byte is sent, or
    /// -errno (-EINVAL for more than 253 fds, SCM_MAX_FD). The fds stay the caller's: the peer receives duplicates.
    /// </summary>
    public static int Send(SafeHandle socket, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second,
        ReadOnlySpan<SafeHandle> fds = default)
    {
        bool added = false;
        socket.DangerousAddRef(ref added);
        try
        {
            return Send((int)socket.DangerousGetHandle(), first, second, fds);
        }
        finally
        {
            socket.DangerousRelease();
        }
    }

    /// <summary>
    /// <see cref="Send(SafeHandle, ReadOnlySpan{byte}, ReadOnlySpan{byte}, ReadOnlySpan{SafeHandle})"/> on a raw
    /// descriptor whose SafeHandle the caller keeps referenced. Without fds no exception region is entered.
    /// </summary>
    internal static unsafe int Send(int socket, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second,
        ReadOnlySpan<SafeHandle> fds = default)
    {
        if (fds.IsEmpty)
        {
            // One buffer and no fds (every reply but GET_REGION_INFO of an mmappable region): send(2) spares the
            // kernel copying and checking a msghdr and its iovec array.
            return second.IsEmpty ? SendPlain(socket, first) : SendCore(socket, first, second, null, 0);
        }

        const int MaxFds = 253; // SCM_MAX_FD
        if (fds.Length > MaxFds)
        {
            return -Errno.EINVAL;
        }

        int controlSize = Cmsg.Space(sizeof(int) * fds.Length);
        Span<byte> control = controlSize <= 256 ? stackalloc byte[256] : new byte[controlSize];
        control = control[..controlSize];
        control.Clear();

        int refs = 0;
        try
        {
            fixed (byte* ctl = control)
            {
                var header = (cmsghdr*)ctl;
                header->cmsg_len = (nuint)Cmsg.Len(sizeof(int) * fds.Length);
                header->cmsg_level = Libc.SOL_SOCKET;
                header->cmsg_type = Libc.SCM_RIGHTS;
                var fdData = (int*)(ctl + Cmsg.HeaderSize);
                for (int i = 0; i < fds.Length; i++)
                {
                    bool added = false;
                    fds[i].DangerousAddRef(ref added);
                    refs++;
                    fdData[i] = (int)fds[i].DangerousGetHandle();
                }

                return SendCore(socket, first, second, ctl, controlSize);
            }
        }
        finally
        {
            for (int i = 0; i < refs; i++)
            {
                fds[i].DangerousRelease();
            }
        }
    }

    /// <summary>The send loop for one buffer without fds.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static unsafe int SendPlain(int socket, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            int sent = 0;
            while (sent < data.Length)
            {
                nint n = Libc.send(socket, p + sent, (nuint)(data.Length - sent), Libc.MSG_NOSIGNAL);
                if (n < 0)
                {
                    int err = Libc.LastErrno;
                    if (err == Errno.EINTR)
                    {
                        continue;
                    }

                    if (err == Errno.EAGAIN && Poll(socket, Libc.POLLOUT, -1))
                    {
                        continue;
                    }

                    return -err;
                }

                sent += (int)n;
            }
        }

        return 0;
    }

    /// <summary>The sendmsg loop: control data rides on the first call only.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static unsafe int SendCore(int socket, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, byte* ctl, int controlSize)
    {
        long total = (long)first.Length + second.Length;
        long sent = 0;
        bool controlSent = false;
        fixed (byte* a = first)
        fixed (byte* b = second)
        {
            iovec* iov = stackalloc iovec[2];
            while (sent < total)
            {
                int iovCount = 0;
                if (sent < first.Length)
                {
                    iov[iovCount++] = new iovec { iov_base = a + sent, iov_len = (nuint)(first.Length - sent) };
                    if (second.Length > 0)
                    {
                        iov[iovCount++] = new iovec { iov_base = b, iov_len = (nuint)second.Length };
                    }
                }
                else
                {
                    long into = sent - first.Length;
                    iov[iovCount++] = new iovec { iov_base = b + into, iov_len = (nuint)(second.Length - into) };
                }

                var msg = new msghdr
                {
                    msg_iov = iov,
                    msg_iovlen = (nuint)iovCount,
                    msg_control = !controlSent && controlSize > 0 ? ctl : null,
                    msg_controllen = !controlSent ? (nuint)controlSize : 0,
                };
                nint n = Libc.sendmsg(socket, &msg, Libc.MSG_NOSIGNAL);
                if (n < 0)
                {
                    int err = Libc.LastErrno;
                    if (err == Errno.EINTR)
                    {
                        continue;
                    }

                    if (err == Errno.EAGAIN && Poll(socket, Libc.POLLOUT, -1))
                    {
                        continue;
                    }

                    return -err;
                }

                controlSent = true;
                sent += n;
            }
        }

        return 0;
    }

    /// <summary>
    /// shutdown(SHUT_RDWR): ends both directions of the connection at once, so a thread blocked receiving on it returns
    /// 0 (end of stream) and the peer sees the end too. The socket stays open until its owner disposes it. 0 or -errno
    /// (-ENOTCONN when it was never connected).
    /// </summary>
    public static int Shutdown(SafeHandle socket) => Libc.shutdown(socket, Libc.SHUT_RDWR) == 0 ? 0 : -Libc.LastErrno;

    /// <summary>Blocks until the fd is readable (or hung up). Only used when a socket turns out non-blocking.</summary>
    internal static bool WaitReadable(SafeHandle fd, int timeoutMs = -1)
    {
        bool added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            return Poll((int)fd.DangerousGetHandle(), Libc.POLLIN, timeoutMs);
        }
        finally
        {
            fd.DangerousRelease();
        }
    }

    private static unsafe bool Poll(int fd, short events, int timeoutMs)
    {
        var p = new pollfd { fd = fd, events = events };
        while (true)
        {
            int r = Libc.poll(&p, 1, timeoutMs);
            if (r >= 0)
            {
                return r > 0;
            }

            if (Libc.LastErrno != Errno.EINTR)
            {
                return false;
            }
        }
    }
}
