using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    public const uint MFD_ALLOW_SEALING = 0x2;

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);
}
