using PcieEmu.Interop;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

public sealed partial class VfioUserConnection
{
    private int HandleVersion(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (_negotiated)
        {
            LogVersionTwice(_clientLogger, h.Id);
            return Errno.EINVAL;
        }

        if (!VersionMessage.TryRead(payload, out ushort major, out ushort minor, out var json))
        {
            LogMalformed(_clientLogger, h.Id, h.Command, "payload shorter than major/minor");
            return Errno.EINVAL;
        }

        if (major != 0)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"protocol major {major} (only 0 exists)");
            return Errno.ENOTSUP;
        }

        if (!VersionCapabilities.TryParse(json, out var client, out string? error))
        {
            LogMalformed(_clientLogger, h.Id, h.Command, error!);
            return Errno.EINVAL;
        }

        ClientCapabilities = client;
        _requests.MaxTransfer = (int)Math.Min(client.MaxDataTransferSize, _options.MaxDataTransferSize);
        var ours = new VersionCapabilities
        {
            MaxMsgFds = _options.MaxFdsPerMessage,
            MaxDataTransferSize = _options.MaxDataTransferSize,
            MaxDmaMaps = _function.DmaMappings.MaxMappings,
            PageSizes = Environment.SystemPageSize,
            WriteMultiple = _options.AdvertiseWriteMultiple,
        };

        // The client's receive buffer for this reply is the size of its request (QEMU: vfio_user_send_wait).
        int jsonBudget = (int)h.Size - MessageHeader.Length - VersionMessage.HeadLength;
        string? replyJson = ours.ToReplyJson(jsonBudget, client.PresentKeys);
        ushort replyMinor = Math.Min(minor, SupportedMinor);
        replyLength = VersionMessage.Write(reply, 0, replyMinor, replyJson);
        _negotiated = true;
        LogNegotiated(_logger, minor, replyMinor, client.MaxMsgFds, client.MaxDataTransferSize, replyJson ?? "(none)");
        return 0;
    }
}
