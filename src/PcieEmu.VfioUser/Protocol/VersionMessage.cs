using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>
/// VERSION payload: major u16, minor u16, then an optional NUL-terminated JSON object
/// <c>{"capabilities": {…}}</c>. Parsing is lenient: unknown keys are ignored, absent keys take the spec's
/// defaults, and a malformed value is an error the caller reports.
/// </summary>
public static class VersionMessage
{
    /// <summary>Bytes before the JSON: major and minor, u16 each.</summary>
    public const int HeadLength = 4;

    /// <summary>
    /// Splits a VERSION payload into the version numbers and the JSON part (empty when absent; parse it with
    /// <see cref="VersionCapabilities.TryParse"/>). False when the payload is shorter than <see cref="HeadLength"/>.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> payload, out ushort major, out ushort minor, out ReadOnlySpan<byte> json)
    {
        major = minor = 0;
        json = default;
        if (payload.Length < HeadLength)
        {
            return false;
        }

        major = BinaryPrimitives.ReadUInt16LittleEndian(payload);
        minor = BinaryPrimitives.ReadUInt16LittleEndian(payload[2..]);
        json = payload[HeadLength..];
        return true;
    }

    /// <summary>
    /// Writes a VERSION payload; the JSON (if any) gets its NUL terminator. Returns bytes written, which is
    /// <see cref="Length"/>(json): <paramref name="destination"/> must hold that many (an exception otherwise).
    /// </summary>
    public static int Write(Span<byte> destination, ushort major, ushort minor, string? json)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, major);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], minor);
        if (json is null)
        {
            return HeadLength;
        }

        int n = Encoding.UTF8.GetBytes(json, destination[HeadLength..]);
        destination[HeadLength + n] = 0;
        return HeadLength + n + 1;
    }

    /// <summary>Bytes of the VERSION payload <see cref="Write"/> makes for <paramref name="json"/> (UTF-8 plus its NUL).</summary>
    public static int Length(string? json) => HeadLength + (json is null ? 0 : Encoding.UTF8.GetByteCount(json) + 1);
}

/// <summary>Capabilities one side declares in VERSION (defaults per the spec when absent).</summary>
public sealed record VersionCapabilities
{
    /// <summary>The spec's max_data_xfer_size when a side declares none: 1 MiB.</summary>
    public const long DefaultMaxDataTransfer = 1 << 20;

    /// <summary>Most fds the declaring side can receive in one message.</summary>
    public int MaxMsgFds { get; init; } = 1;

    /// <summary>Largest REGION/DMA READ/WRITE count the declaring side accepts.</summary>
    public long MaxDataTransferSize { get; init; } = DefaultMaxDataTransfer;

    /// <summary>Most DMA mappings the declaring side handles at once (max_dma_maps; 65535 when absent).</summary>
    public long MaxDmaMaps { get; init; } = 65535;

    /// <summary>Bitmap of the IOMMU page sizes the declaring side supports (pgsizes: bit n set = 2^n bytes; 4 KiB when absent).</summary>
    public long PageSizes { get; init; } = 4096;

    /// <summary>The declaring side accepts REGION_WRITE_MULTI (write_multiple).</summary>
    public bool WriteMultiple { get; init; }

    /// <summary>The declaring side offers a second socket for server→client requests (twin_socket.supported); PcieEmu does not use one.</summary>
    public bool TwinSocketSupported { get; init; }

    /// <summary>Keys that were present in the JSON (to answer with a subset and for logs).</summary>
    public IReadOnlySet<string> PresentKeys { get; init; } = new HashSet<string>();

    /// <summary>
    /// Parses the JSON part of a VERSION payload. <paramref name="json"/> may be empty (no capabilities) or
    /// must be NUL-terminated JSON. Returns false with a reason for anything malformed.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> json, out VersionCapabilities caps, out string? error)
    {
        caps = new VersionCapabilities();
        error = null;
        if (json.IsEmpty)
        {
            return true;
        }

        int nul = json.IndexOf((byte)0);
        if (nul < 0)
        {
            error = "capabilities JSON is not NUL-terminated";
            return false;
        }

        if (nul != json.Length - 1 && json[(nul + 1)..].ContainsAnyExcept((byte)0))
        {
            error = "bytes after the JSON terminator";
            return false;
        }

        json = json[..nul];
        if (json.IsEmpty)
        {
            return true;
        }

        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = "capabilities JSON is not an object";
                return false;
            }

            if (!doc.RootElement.TryGetProperty("capabilities", out var c))
            {
                return true;
            }

            if (c.ValueKind != JsonValueKind.Object)
            {
                error = "\"capabilities\" is not an object";
                return false;
            }

            var present = new HashSet<string>(StringComparer.Ordinal);
            int maxFds = caps.MaxMsgFds;
            long maxXfer = caps.MaxDataTransferSize, maxMaps = caps.MaxDmaMaps, pgsizes = caps.PageSizes;
            bool writeMultiple = false, twin = false;
            foreach (var p in c.EnumerateObject())
            {
                present.Add(p.Name);
                switch (p.Name)
                {
                    case "max_msg_fds":
                        if (!TryNonNegative(p.Value, out long fds) || fds > 1024)
                        {
                            error = "max_msg_fds must be an integer in 0..1024";
                            return false;
                        }

                        maxFds = (int)fds;
                        break;
                    case "max_data_xfer_size":
                        if (!TryNonNegative(p.Value, out maxXfer) || maxXfer == 0)
                        {
                            error = "max_data_xfer_size must be a positive integer";
                            return false;
                        }

                        break;
                    case "max_dma_maps":
                        if (!TryNonNegative(p.Value, out maxMaps))
                        {
                            error = "max_dma_maps must be a non-negative integer";
                            return false;
                        }

                        break;
                    case "pgsizes":
                        if (!TryNonNegative(p.Value, out pgsizes))
                        {
                            error = "pgsizes must be a non-negative integer";
                            return false;
                        }

                        break;
                    case "write_multiple":
                        writeMultiple = p.Value.ValueKind == JsonValueKind.True;
                        break;
                    case "twin_socket":
                        twin = p.Value.ValueKind == JsonValueKind.Object
                               && p.Value.TryGetProperty("supported", out var s) && s.ValueKind == JsonValueKind.True;
                        break;
                    default:
                        break; // "migration" (legacy) and anything newer: accepted and ignored
                }
            }

            caps = new VersionCapabilities
            {
                MaxMsgFds = maxFds,
                MaxDataTransferSize = maxXfer,
                MaxDmaMaps = maxMaps,
                PageSizes = pgsizes,
                WriteMultiple = writeMultiple,
                TwinSocketSupported = twin,
                PresentKeys = present,
            };
            return true;
        }
        catch (JsonException e)
        {
            error = $"capabilities JSON is malformed: {e.Message}";
            return false;
        }
    }

    private static bool TryNonNegative(JsonElement e, out long value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out value) && value >= 0;
    }

    /// <summary>
    /// The JSON for our reply, dropping optional keys (last first) until the whole reply fits in
    /// <paramref name="maxJsonBytes"/> (QEMU's receive buffer is the size of its request). Null when not even
    /// the smallest form fits (a reply without JSON is valid).
    /// </summary>
    public string? ToReplyJson(int maxJsonBytes, IReadOnlySet<string> clientKeys)
    {
        var parts = new List<string>
        {
            $"\"max_msg_fds\":{MaxMsgFds}",
            $"\"max_data_xfer_size\":{MaxDataTransferSize}",
        };
        if (clientKeys.Contains("pgsizes"))
        {
            parts.Add($"\"pgsizes\":{PageSizes}");
        }

        if (clientKeys.Contains("max_dma_maps"))
        {
            parts.Add($"\"max_dma_maps\":{MaxDmaMaps}");
        }

        if (WriteMultiple && clientKeys.Contains("write_multiple"))
        {
            parts.Add("\"write_multiple\":true");
        }

        while (parts.Count > 0)
        {
            string json = "{\"capabilities\":{" + string.Join(",", parts) + "}}";
            if (Encoding.UTF8.GetByteCount(json) + 1 <= maxJsonBytes)
            {
                return json;
            }

            parts.RemoveAt(parts.Count - 1);
        }

        return null;
    }
}
