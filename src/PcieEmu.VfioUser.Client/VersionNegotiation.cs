using System.Text;
using System.Text.Json;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Client;

/// <summary>
/// VERSION as QEMU 11.1 sends it and checks it: the reply must fit the request (QEMU's buffer is the request), carry the
/// proposed major and a minor not above ours, and end its JSON with a NUL; in strict mode the capability limits QEMU
/// enforces (hw/vfio-user/proxy.c caps_check) are checked as well.
/// </summary>
internal static class VersionNegotiation
{
    public static VersionReply Negotiate(ClientChannel channel, bool qemuStrict, ushort major, ushort minor, string? json)
    {
        int size = MessageHeader.Length + VersionMessage.Length(json);
        byte[] message = new byte[size];
        ushort id = channel.TakeId();
        new MessageHeader(id, VfioUserCommand.Version, (uint)size, VfioUserFlags.Command, 0).WriteTo(message);
        VersionMessage.Write(message.AsSpan(MessageHeader.Length), major, minor, json);
        channel.Send(message, default, default, VfioUserCommand.Version, id);

        channel.AwaitReply(id, VfioUserCommand.Version, 0, channel.DeadlineAfter(null), out var h, out var p);
        ClientChannel.ThrowIfError(h);
        if (h.Size > size)
        {
            throw channel.Violation(h.Command, id, $"{h.Size} bytes, larger than the {size}-byte request (QEMU: \"reply larger than recv buffer\")");
        }

        if (!VersionMessage.TryRead(p, out ushort replyMajor, out ushort replyMinor, out var replyJson))
        {
            throw channel.Violation(h.Command, id, $"payload of {p.Length} bytes has no major/minor");
        }

        if (replyMajor != major || replyMinor > minor)
        {
            throw channel.Violation(h.Command, id, $"incompatible server version {replyMajor}.{replyMinor} (we proposed {major}.{minor})");
        }

        string? text = null;
        var caps = new VersionCapabilities();
        if (!replyJson.IsEmpty)
        {
            if (replyJson[^1] != 0)
            {
                throw channel.Violation(h.Command, id, "corrupt version reply: the capabilities JSON does not end in a NUL byte");
            }

            int nul = replyJson.IndexOf((byte)0);
            text = Encoding.UTF8.GetString(replyJson[..nul]);
            if (!VersionCapabilities.TryParse(replyJson, out caps, out string? error))
            {
                throw channel.Violation(h.Command, id, $"malformed capabilities: {error}");
            }

            if (qemuStrict && text.Length > 0 && CheckQemuCapabilityLimits(text) is { } problem)
            {
                throw channel.Violation(h.Command, id, problem);
            }
        }

        return new VersionReply(replyMajor, replyMinor, text, caps, (int)h.Size);
    }

    /// <summary>What a client declares about itself in its VERSION JSON (spec defaults without one).</summary>
    public static VersionCapabilities ParseOwnCapabilities(string? json)
    {
        if (json is null)
        {
            return new VersionCapabilities();
        }

        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(json) + 1];
        Encoding.UTF8.GetBytes(json, bytes);
        return VersionCapabilities.TryParse(bytes, out var caps, out string? error)
            ? caps
            : throw new ArgumentException($"VersionJson is not valid vfio-user capabilities: {error}");
    }

    /// <summary>QEMU's caps_check rules (hw/vfio-user/proxy.c): null when the JSON passes.</summary>
    private static string? CheckQemuCapabilityLimits(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (!doc.RootElement.TryGetProperty("capabilities", out var c))
            {
                return null;
            }

            foreach (var p in c.EnumerateObject())
            {
                string? problem = p.Name switch
                {
                    "max_msg_fds" => UInt(p.Value) is not { } v || v > 16 ? "malformed max_msg_fds (QEMU allows at most 16)" : null,
                    "max_data_xfer_size" => UInt(p.Value) is not { } v || v > 64 << 20 ? "malformed max_data_xfer_size (QEMU allows at most 64 MiB)" : null,
                    "pgsizes" => UInt(p.Value) is not { } v || (v & 4095) != 0 ? $"pgsizes {p.Value} too small (must be a multiple of 4096)" : null,
                    "max_dma_maps" => UInt(p.Value) is not { } v || v > 65535 ? "max_dma_maps too large (can only be lowered from 65535)" : null,
                    "write_multiple" => p.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False) ? "malformed write_multiple" : null,
                    "migration" => CheckMigration(p.Value),
                    _ => null, // QEMU warns "spurious capabilities" and carries on
                };
                if (problem is not null)
                {
                    return problem;
                }
            }

            return null;
        }
        catch (JsonException e)
        {
            return $"malformed capabilities: {e.Message}";
        }

        static ulong? UInt(JsonElement e) => e.ValueKind == JsonValueKind.Number && e.TryGetUInt64(out ulong v) ? v : null;

        static string? CheckMigration(JsonElement m)
        {
            if (m.ValueKind != JsonValueKind.Object)
            {
                return null; // QEMU reports it but does not fail
            }

            foreach (var p in m.EnumerateObject())
            {
                if (p.Name == "pgsize" && (UInt(p.Value) is not { } pg || (pg & 4095) != 0))
                {
                    return "migration pgsize too small";
                }

                if (p.Name == "max_bitmap_size" && (UInt(p.Value) is not { } bm || bm > 256 << 20))
                {
                    return "max_bitmap_size too large";
                }
            }

            return null;
        }
    }
}
