using PcieEmu.Examples.Edu;
using PcieEmu.Hosting;

// serve, boot (--driver DIR), replay and trace dump|stats for the example device: `edu-device --help`.
return await DeviceHost.RunAsync(args, EduDevice.Type);
