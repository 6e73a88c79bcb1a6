using System.Buffers.Binary;
using PcieEmu.Interop;
using PcieEmu.Pci;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

public sealed partial class VfioUserConnection
{
    private int HandleGetInfo(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (!DeviceInfo.TryRead(payload, out var request) || request.Argsz < DeviceInfo.Length)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B / argsz too small");
            return Errno.EINVAL;
        }

        new DeviceInfo(DeviceInfo.Length, VfioConstants.DeviceFlagsReset | VfioConstants.DeviceFlagsPci, VfioRegion.Count, 5).WriteTo(reply);
        replyLength = DeviceInfo.Length;
        return 0;
    }

    private int HandleDeviceReset()
    {
        _function.Reset(ResetKind.DeviceReset);
        return 0;
    }

    private int HandleDeviceFeature(in MessageHeader h, ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 8)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, "payload below 8 bytes");
            return Errno.EINVAL;
        }

        // No device features (migration, DMA logging) are implemented.
        return Errno.ENOTSUP;
    }
}
